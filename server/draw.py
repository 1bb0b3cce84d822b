"""The random inspection draw (双随机): pure functions over a canonical JSON record, no database.

Anyone holding a round's published record can replay the draw with `scripts/verify_draw.py`;
this module therefore imports nothing but the standard library.

The record's `inputs` are frozen when staff freeze a round:

    {"format": "sp-draw/2" (or "sp-draw/1"), "round": {"id", "name"}, "nonce": 32 hex,
     "candidates": [{"key", "project_id", "village_id", "site_id", "township_id", "township", "label"}],
     "groups": G, "sites_per_group": S, "team_size": m, "items_per_visit": k,
     "check_items": [bank], "inspectors": [{"id", "home_township_id"}],
     "public_value_source": {"description", "date"},
     "teams": [{"id", "name", "leader_id", "member_ids"}],            (sp-draw/2 only)
     "recusals": [{"inspector_id", "scope", "keys": [candidate keys]}]}  (sp-draw/2 only)

`public_value_source` names the public value the draw will use (e.g. 中国福利彩票双色球第
2026141期开奖号码) and the day it is published (YYYY-MM-DD, after the freeze day); the server
refuses to draw before that day. Rounds frozen before it existed lack it.

1. input_hash = SHA-256 of the canonical JSON of `inputs` (sorted keys, no spaces, UTF-8),
   published before the draw.
2. seed = SHA-256(input_hash + ":" + public_value), the public value being entered later
   (e.g. a lottery number), so nobody knew the seed when the inputs were fixed.
3. Every random choice reads a named stream: block i of stream `label` is
   SHA-256(seed + ":" + nonce + ":" + label + ":" + i); integers below n are taken from
   64-bit big-endian words by rejection sampling (no modulo bias) and shuffles are
   Fisher–Yates. The nonce is committed by the input hash but published only with the full
   record, so outsiders who can guess the candidate list still cannot foresee the result.
4. Stratification: G*S sites are shared among townships in proportion to their candidates
   (largest remainder), each township with candidates getting at least one when G*S allows.
   Within a township the sites are the first of a shuffle of its candidates.
5. The chosen sites are shuffled into G groups of S; each group gets a team of m inspectors,
   nobody in two teams and nobody whose home township is one of the group's townships
   (recusal) or who declared a conflict with one of its sites (`recusals`: the candidate keys
   a declared relative or former post bars the inspector from). When a deal leaves a group
   without enough eligible inspectors, the next attempt deals again from stream
   `groups:<attempt>`; the sites chosen in step 4 never change.
   With `teams` (sp-draw/2, not empty) the round sends standing teams instead: G equals the
   number of teams, and each group, the most constrained first, gets one team drawn uniformly
   (one integer of the same stream) among the unused teams none of whose members is barred
   from any of its sites; `inspectors` then lists the teams' members. In sp-draw/2 every
   candidate must have a possible team (or m possible inspectors) before anything is drawn.
6. Each site draws k check items from the bank (stream `items:<site key>`), kept in bank order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

FORMAT = "sp-draw/2"
# sp-draw/1 rounds (before teams and declared recusals) replay unchanged: without `teams` and
# `recusals` every step above reads exactly the same streams.
FORMATS = ("sp-draw/1", FORMAT)
SOURCE_KEY = "public_value_source"
MAX_ATTEMPTS = 200
_WORD = 2**64
NO_TOWNSHIP = "-"


class DrawError(Exception):
    """The inputs cannot produce a draw; `message` says why in Chinese."""

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes that are hashed."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def input_hash(inputs: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the frozen inputs."""
    return hashlib.sha256(canonical_json(inputs)).hexdigest()


def value_source(inputs: dict[str, Any] | None) -> dict[str, str] | None:
    """The frozen {description, date} of where the public value comes from, or None (older rounds)."""
    return (inputs or {}).get(SOURCE_KEY)


def normalize_public_value(value: str) -> str:
    """The public value as it enters the seed: surrounding whitespace removed."""
    return value.strip()


def make_seed(hash_hex: str, public_value: str) -> str:
    """SHA-256(input_hash + ":" + public value), hex."""
    return hashlib.sha256(f"{hash_hex}:{normalize_public_value(public_value)}".encode()).hexdigest()


@dataclass
class Stream:
    """A deterministic stream of unbiased integers from SHA-256 in counter mode."""

    key: str
    label: str
    _counter: int = 0
    _words: list[int] = field(default_factory=list)

    def _word(self) -> int:
        if not self._words:
            block = hashlib.sha256(f"{self.key}:{self.label}:{self._counter}".encode()).digest()
            self._counter += 1
            self._words = [int.from_bytes(block[i : i + 8], "big") for i in range(0, 32, 8)]
        return self._words.pop(0)

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), by rejection sampling of 64-bit words."""
        if not 0 < n <= _WORD:
            raise ValueError("n must be in 1..2**64")
        limit = _WORD - _WORD % n
        while True:
            x = self._word()
            if x < limit:
                return x % n

    def shuffle(self, items: list) -> list:
        """A Fisher–Yates shuffle of a copy of `items`."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def sample(self, items: list, k: int) -> list:
        """k items without replacement: the first k of a partial Fisher–Yates shuffle."""
        out = list(items)
        for i in range(min(k, len(out))):
            j = i + self.below(len(out) - i)
            out[i], out[j] = out[j], out[i]
        return out[:k]


def stream(seed: str, nonce: str, label: str) -> Stream:
    """The stream named `label` of a draw."""
    return Stream(f"{seed}:{nonce}", label)


def stratum(candidate: dict[str, Any]) -> str:
    """The township key of a candidate (candidates without a township form their own stratum)."""
    t = candidate.get("township_id")
    return NO_TOWNSHIP if t is None else str(t)


def allocate(counts: dict[str, int], total: int, tie_order: list[str]) -> dict[str, int]:
    """Share `total` sites among strata in proportion to `counts` (largest remainder).

    Every stratum gets at least one site when `total` is at least the number of strata, and
    never more than it has candidates; ties go by `tie_order` (a shuffle of the strata).
    """
    keys = [k for k in tie_order if counts.get(k, 0) > 0]
    available = sum(counts[k] for k in keys)
    if total > available:
        raise DrawError(f"候选点位只有 {available} 个,不足以抽取 {total} 个", {"needed": total, "available": available})
    rank = {k: i for i, k in enumerate(keys)}
    quota = {k: Fraction(total * counts[k], available) for k in keys}
    floor_ = 1 if total >= len(keys) else 0
    alloc = {k: min(counts[k], max(floor_, int(quota[k]))) for k in keys}
    # The minimum of one can overshoot: take back from those furthest above their quota.
    while sum(alloc.values()) > total:
        k = max((k for k in keys if alloc[k] > floor_), key=lambda k: (alloc[k] - quota[k], -rank[k]))
        alloc[k] -= 1
    while sum(alloc.values()) < total:
        k = max((k for k in keys if alloc[k] < counts[k]), key=lambda k: (quota[k] - alloc[k], -rank[k]))
        alloc[k] += 1
    return alloc


def validate(inputs: dict[str, Any]) -> None:
    """DrawError when the inputs cannot give a draw (checked at freeze and again at draw)."""
    if inputs.get("format") not in FORMATS:
        raise DrawError(f"记录格式不是 {' 或 '.join(FORMATS)}")
    if inputs["format"] == FORMATS[0] and ("teams" in inputs or "recusals" in inputs):
        raise DrawError(f"{FORMATS[0]} 记录不含督查组和回避申报")
    groups, per_group, team, k = (inputs[n] for n in ("groups", "sites_per_group", "team_size", "items_per_visit"))
    teams = inputs.get("teams") or []
    if groups < 1 or per_group < 1:
        raise DrawError("工作组数和每组点位数都至少为 1")
    if teams:
        _validate_teams(inputs, teams)
    elif team < 2:
        raise DrawError("每个督查组至少 2 人", {"team_size": team})
    keys = [c["key"] for c in inputs["candidates"]]
    if len(set(keys)) != len(keys):
        raise DrawError("候选点位有重复")
    total = groups * per_group
    if total > len(keys):
        raise DrawError(
            f"候选点位只有 {len(keys)} 个,不足以抽取 {groups} 组 × {per_group} 个 = {total} 个",
            {"needed": total, "available": len(keys)},
        )
    bank = inputs["check_items"]
    if len(set(bank)) != len(bank):
        raise DrawError("督查事项库有重复")
    if k < 1 or k > len(bank):
        raise DrawError(
            f"每次抽取的督查事项数应在 1 到 {len(bank)} 之间(事项库共 {len(bank)} 项)",
            {"items_per_visit": k, "bank": len(bank)},
        )
    pool = [i["id"] for i in inputs["inspectors"]]
    if len(set(pool)) != len(pool):
        raise DrawError("督查人员库有重复")
    if not teams and groups * team > len(pool):
        raise DrawError(
            f"督查人员库只有 {len(pool)} 人,{groups} 个组每组 {team} 人需要 {groups * team} 人",
            {"needed": groups * team, "available": len(pool)},
        )
    if inputs["format"] != FORMATS[0]:
        _validate_coverage(inputs)


def _validate_teams(inputs: dict[str, Any], teams: list[dict[str, Any]]) -> None:
    """The standing teams of a round: one group each, at least 2 members, nobody in two."""
    if inputs["groups"] != len(teams):
        raise DrawError(f"工作组数应等于所选督查组数({len(teams)} 个)", {"groups": inputs["groups"]})
    if len({t["id"] for t in teams}) != len(teams):
        raise DrawError("督查组有重复")
    pool = {i["id"] for i in inputs["inspectors"]}
    seen: set[int] = set()
    for t in teams:
        members = t["member_ids"]
        if len(members) < 2:
            raise DrawError(f"「{t['name']}」至少需要 2 名有效的督查人员", {"team_id": t["id"]})
        if seen & set(members) or not set(members) <= pool:
            raise DrawError(f"「{t['name']}」的成员同时在其他督查组或不在人员库中", {"team_id": t["id"]})
        seen |= set(members)


def barred(inputs: dict[str, Any]) -> dict[int, set[str]]:
    """For each inspector, the candidate keys they may not visit: their home township and declared conflicts."""
    town_keys: dict[Any, set[str]] = {}
    for c in inputs["candidates"]:
        if c.get("township_id") is not None:
            town_keys.setdefault(c["township_id"], set()).add(c["key"])
    out = {i["id"]: set(town_keys.get(i.get("home_township_id"), ())) for i in inputs["inspectors"]}
    for r in inputs.get("recusals") or []:
        out.setdefault(r["inspector_id"], set()).update(r["keys"])
    return out


def _team_barred(inputs: dict[str, Any], bars: dict[int, set[str]]) -> dict[int, set[str]]:
    """For each standing team, the candidate keys any of its members may not visit."""
    return {t["id"]: set().union(*(bars.get(m, set()) for m in t["member_ids"])) for t in inputs.get("teams") or []}


def _validate_coverage(inputs: dict[str, Any]) -> None:
    """Every candidate can be visited by someone: otherwise drawing it would leave a group without a team."""
    bars = barred(inputs)
    teams = inputs.get("teams") or []
    if teams:
        team_bars = _team_barred(inputs, bars)
        stuck = [c for c in inputs["candidates"] if all(c["key"] in team_bars[t["id"]] for t in teams)]
        what = "没有可派的督查组(每个组都有成员须回避)"
    else:
        need = inputs["team_size"]
        stuck = [c for c in inputs["candidates"] if sum(c["key"] not in b for b in bars.values()) < need]
        what = f"可派的督查人员不足 {need} 人"
    if stuck:
        raise _uncovered(stuck, what)


def _uncovered(sites: list[dict[str, Any]], what: str) -> DrawError:
    labels = [c["label"] for c in sorted(sites, key=lambda c: c["key"])]
    return DrawError(
        f"在回避本乡镇和回避申报的前提下,以下点位{what}:{'、'.join(labels)}。"
        "请增加督查组或督查人员,或从候选范围中调整这些点位",
        {"sites": sorted(c["key"] for c in sites), "labels": labels},
    )


def _select_sites(inputs: dict[str, Any], seed: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    nonce = inputs["nonce"]
    by_stratum: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(inputs["candidates"], key=lambda c: c["key"]):
        by_stratum.setdefault(stratum(c), []).append(c)
    tie_order = stream(seed, nonce, "allocation").shuffle(sorted(by_stratum))
    total = inputs["groups"] * inputs["sites_per_group"]
    alloc = allocate({k: len(v) for k, v in by_stratum.items()}, total, tie_order)
    chosen = []
    for key in sorted(alloc):
        chosen += stream(seed, nonce, f"sites:{key}").shuffle(by_stratum[key])[: alloc[key]]
    return alloc, sorted(chosen, key=lambda c: c["key"])


Deal = tuple[list[dict] | None, list[dict[str, Any]]]


def _deal(inputs: dict[str, Any], seed: str, chosen: list[dict[str, Any]], attempt: int) -> Deal:
    """One deal of sites into groups and teams: (groups, []) or (None, the sites of a group left without a team)."""
    per_group, team = inputs["sites_per_group"], inputs["team_size"]
    s = stream(seed, inputs["nonce"], f"groups:{attempt}")
    dealt = s.shuffle(chosen)
    groups = [dealt[i : i + per_group] for i in range(0, len(dealt), per_group)]
    if inputs.get("teams"):
        return _deal_teams(inputs, s, groups)
    pool = sorted(inputs["inspectors"], key=lambda i: i["id"])
    declared: dict[int, set[str]] = {}
    for r in inputs.get("recusals") or []:
        declared.setdefault(r["inspector_id"], set()).update(r["keys"])
    used: set[int] = set()
    teams: dict[int, list[int]] = {}

    def eligible(sites: list[dict]) -> list[int]:
        towns = {c["township_id"] for c in sites if c.get("township_id") is not None}
        keys = {c["key"] for c in sites}
        return [
            i["id"]
            for i in pool
            if i["id"] not in used
            and i.get("home_township_id") not in towns
            and not keys & declared.get(i["id"], set())
        ]

    # The most constrained group chooses first, so recusal rarely needs a second deal.
    for g in sorted(range(len(groups)), key=lambda g: (len(eligible(groups[g])), g)):
        options = eligible(groups[g])
        if len(options) < team:
            return None, groups[g]
        teams[g] = sorted(s.sample(options, team))
        used.update(teams[g])
    return [{"no": g + 1, "inspector_ids": teams[g], "sites": sites} for g, sites in enumerate(groups)], []


def _deal_teams(inputs: dict[str, Any], s: Stream, groups: list[list[dict[str, Any]]]) -> Deal:
    """Standing teams onto the dealt groups: each group one team none of whose members is barred from its sites."""
    team_bars = _team_barred(inputs, barred(inputs))
    by_id = {t["id"]: t for t in inputs["teams"]}
    free = sorted(by_id)
    chosen: dict[int, int] = {}

    def eligible(sites: list[dict]) -> list[int]:
        keys = {c["key"] for c in sites}
        return [t for t in free if not keys & team_bars[t]]

    for g in sorted(range(len(groups)), key=lambda g: (len(eligible(groups[g])), g)):
        options = eligible(groups[g])
        if not options:
            return None, groups[g]
        chosen[g] = options[s.below(len(options))]
        free.remove(chosen[g])
    return [
        {"no": g + 1, "team_id": chosen[g], "inspector_ids": sorted(by_id[chosen[g]]["member_ids"]), "sites": sites}
        for g, sites in enumerate(groups)
    ], []


def run(inputs: dict[str, Any], seed: str) -> dict[str, Any]:
    """The draw's result for frozen inputs and a seed (same inputs and seed, same result)."""
    validate(inputs)
    alloc, chosen = _select_sites(inputs, seed)
    stuck: dict[str, int] = {}
    for attempt in range(MAX_ATTEMPTS):
        groups, left = _deal(inputs, seed, chosen, attempt)
        if groups is not None:
            break
        for c in left:
            stuck[c["key"]] = stuck.get(c["key"], 0) + 1
    else:
        if inputs["format"] != FORMATS[0]:
            # Name the drawn sites that were left without a team most often: those the rules shut out.
            worst = max(stuck.values())
            raise _uncovered([c for c in chosen if stuck.get(c["key"]) == worst], "多次分组后仍无法派出督查组")
        raise DrawError(
            f"在回避本乡镇的前提下,督查人员不足以组成 {inputs['groups']} 个每组 {inputs['team_size']} 人的督查组,"
            "请增加督查人员或减少工作组",
            {"attempts": MAX_ATTEMPTS},
        )
    bank, k = inputs["check_items"], inputs["items_per_visit"]
    out_groups = []
    for g in groups:
        sites = []
        for c in g["sites"]:
            picked = set(stream(seed, inputs["nonce"], f"items:{c['key']}").sample(bank, k))
            sites.append({"key": c["key"], "check_items": [i for i in bank if i in picked]})
        team = {"team_id": g["team_id"]} if "team_id" in g else {}
        out_groups.append({"no": g["no"], **team, "inspector_ids": g["inspector_ids"], "sites": sites})
    return {"allocation": dict(sorted(alloc.items())), "attempt": attempt, "groups": out_groups}


def publish(inputs: dict[str, Any], public_value: str) -> dict[str, Any]:
    """The full record of a draw: inputs, their hash, the public value, the seed and the result."""
    h = input_hash(inputs)
    seed = make_seed(h, public_value)
    return {
        "format": FORMAT,
        "inputs": inputs,
        "input_hash": h,
        "public_value": normalize_public_value(public_value),
        "seed": seed,
        "result": run(inputs, seed),
    }


def verify(record: dict[str, Any]) -> list[tuple[str, bool]]:
    """Recompute hash, seed and result of a published record: [(what, matches)]."""
    h = input_hash(record["inputs"])
    checks = [("input_hash", h == record.get("input_hash"))]
    seed = make_seed(h, record["public_value"])
    checks.append(("seed", seed == record.get("seed")))
    try:
        result = run(record["inputs"], seed)
    except DrawError:
        checks.append(("result", False))
    else:
        checks.append(("result", result == record.get("result")))
    return checks
