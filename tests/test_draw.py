"""The pure draw (server/draw.py) and scripts/verify_draw.py: deterministic, seed-sensitive, fair."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import draw

ROOT = Path(__file__).resolve().parent.parent
# Upper 0.1% points of the chi-square distribution, by degrees of freedom.
CHI2_999 = {4: 18.467, 9: 27.877, 11: 31.264}


def make_inputs(
    towns: dict[int, int],
    *,
    groups=2,
    per_group=3,
    team=2,
    k=2,
    bank=5,
    inspectors: list[tuple[int, int | None]] | None = None,
    nonce="ab" * 16,
) -> dict:
    """Frozen inputs with `towns` {township_id: number of candidates} and an inspector pool."""
    candidates = [
        {
            "key": f"p{t}{i:02d}-v{t}{i:02d}",
            "project_id": t * 100 + i,
            "village_id": t * 100 + i,
            "site_id": None,
            "township_id": t,
            "township": f"镇{t}",
            "label": f"村{t}-{i}",
        }
        for t, n in towns.items()
        for i in range(n)
    ]
    if inspectors is None:
        inspectors = [(i, None) for i in range(1, groups * team + 3)]
    return {
        "format": draw.FORMAT,
        "round": {"id": 1, "name": "测试轮次"},
        "nonce": nonce,
        "candidates": candidates,
        "groups": groups,
        "sites_per_group": per_group,
        "team_size": team,
        "items_per_visit": k,
        "check_items": [f"事项{i}" for i in range(bank)],
        "inspectors": [{"id": i, "home_township_id": h} for i, h in inspectors],
    }


def chosen_keys(result: dict) -> list[str]:
    """The site keys of a result, in group order."""
    return [s["key"] for g in result["groups"] for s in g["sites"]]


towns_st = st.dictionaries(st.integers(1, 9), st.integers(1, 8), min_size=1, max_size=6)


@st.composite
def drawable(draw_, min_sites=1):
    """Inputs that can always be drawn: inspectors without a home township, enough candidates."""
    towns = draw_(towns_st)
    n = sum(towns.values())
    per_group = draw_(st.integers(1, 3))
    groups = draw_(st.integers(1, max(1, n // per_group)))
    if groups * per_group > n or groups * per_group < min_sites:
        per_group, groups = 1, max(1, min(n, min_sites))
    return make_inputs(towns, groups=groups, per_group=per_group)


def test_canonical_json_is_sorted_compact_utf8():
    """The hashed bytes are sorted keys, no spaces, UTF-8 (not \\u escapes)."""
    assert draw.canonical_json({"b": 1, "a": ["镇", 2]}) == '{"a":["镇",2],"b":1}'.encode()


def test_seed_combines_hash_and_public_value():
    """seed = SHA-256(input_hash ":" public value), whitespace around the value ignored."""
    import hashlib

    assert draw.make_seed("ab", " 2026088 ") == hashlib.sha256(b"ab:2026088").hexdigest()


def test_below_rejects_words_that_would_bias_the_modulo():
    """A word in the last incomplete block of n is skipped, not folded."""
    s = draw.Stream("k", "x")
    n = 3
    limit = 2**64 - 2**64 % n
    s._words = [limit + 1, 7]
    assert s.below(n) == 7 % n


@settings(max_examples=40, deadline=None)
@given(drawable(), st.text(min_size=1, max_size=12))
def test_same_record_gives_same_result(inputs, public):
    """Replaying the same inputs with the same public value reproduces the result exactly."""
    first = draw.publish(inputs, public)
    assert draw.publish(json.loads(json.dumps(first["inputs"])), public) == first
    assert all(ok for _, ok in draw.verify(first))


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_another_seed_changes_the_draw_completely(a, b):
    """Two public values give unrelated shuffles: few positions of a 64-permutation coincide."""
    if draw.normalize_public_value(a) == draw.normalize_public_value(b):
        return
    h = "0" * 64
    one = draw.stream(draw.make_seed(h, a), "n", "x").shuffle(list(range(64)))
    two = draw.stream(draw.make_seed(h, b), "n", "x").shuffle(list(range(64)))
    # Two independent permutations share about one fixed position; 10 or more has odds below 1e-7.
    assert sum(x == y for x, y in zip(one, two, strict=True)) < 10


def test_another_seed_changes_sites_teams_and_items():
    """On a realistic round, another public value changes which sites, teams and items are drawn."""
    inputs = make_inputs({1: 12, 2: 9, 3: 7}, groups=3, per_group=3, k=3, bank=12)
    one, two = draw.publish(inputs, "2026001"), draw.publish(inputs, "2026002")
    assert set(chosen_keys(one["result"])) != set(chosen_keys(two["result"]))
    assert [g["inspector_ids"] for g in one["result"]["groups"]] != [
        g["inspector_ids"] for g in two["result"]["groups"]
    ]
    assert one["seed"] != two["seed"]


def test_another_nonce_changes_the_draw():
    """The nonce, committed by the hash, keys the streams: a guessed candidate list is not enough."""
    a = make_inputs({1: 10, 2: 10}, nonce="00" * 16)
    b = make_inputs({1: 10, 2: 10}, nonce="11" * 16)
    seed = "f" * 64
    assert chosen_keys(draw.run(a, seed)) != chosen_keys(draw.run(b, seed))


@settings(max_examples=60, deadline=None)
@given(towns_st, st.integers(1, 30), st.lists(st.integers(0, 9), min_size=1, max_size=6))
def test_allocation_is_proportional_and_covers_every_township(towns, total, ties):
    """Largest remainder: sums to the total, capped, ≥1 each when possible, within a site of the quota."""
    available = sum(towns.values())
    keys = sorted(str(t) for t in towns)
    if total > available:
        with pytest.raises(draw.DrawError):
            draw.allocate({str(t): n for t, n in towns.items()}, total, keys)
        return
    alloc = draw.allocate({str(t): n for t, n in towns.items()}, total, keys)
    assert sum(alloc.values()) == total
    bumped = 0
    for t, n in towns.items():
        quota = total * n / available
        assert alloc[str(t)] <= n
        if total >= len(towns):
            assert alloc[str(t)] >= 1
        bumped += quota < 1
    for t, n in towns.items():
        quota = total * n / available
        assert alloc[str(t)] <= max(1, -(-total * n // available))
        assert alloc[str(t)] >= int(quota) - bumped


@settings(max_examples=40, deadline=None)
@given(drawable(), st.text(min_size=1, max_size=8))
def test_drawn_sites_follow_the_allocation(inputs, public):
    """Each township contributes exactly its allocated number of distinct sites."""
    result = draw.publish(inputs, public)["result"]
    keys = chosen_keys(result)
    assert len(keys) == len(set(keys)) == inputs["groups"] * inputs["sites_per_group"]
    town_of = {c["key"]: str(c["township_id"]) for c in inputs["candidates"]}
    assert dict(Counter(town_of[k] for k in keys)) == {t: n for t, n in result["allocation"].items() if n}


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.text(min_size=1, max_size=8))
def test_teams_respect_recusal(groups, public):
    """No inspector is sent to a site in their home township, nor sits in two teams."""
    towns = {t: 4 for t in range(1, groups + 2)}
    # Every inspector lives in one of the round's townships.
    pool = [(i, 1 + i % (groups + 1)) for i in range(1, 3 * groups + 4)]
    inputs = make_inputs(towns, groups=groups, per_group=2, inspectors=pool)
    result = draw.publish(inputs, public)["result"]
    home = dict(pool)
    town_of = {c["key"]: c["township_id"] for c in inputs["candidates"]}
    seen: list[int] = []
    for g in result["groups"]:
        assert len(g["inspector_ids"]) == 2
        towns_of_group = {town_of[s["key"]] for s in g["sites"]}
        assert not any(home[i] in towns_of_group for i in g["inspector_ids"])
        seen += g["inspector_ids"]
    assert len(seen) == len(set(seen))


def test_impossible_recusal_is_explained():
    """When everyone lives where the sites are, the draw fails with a Chinese explanation."""
    inputs = make_inputs({1: 4}, groups=1, per_group=2, inspectors=[(1, 1), (2, 1), (3, 1)])
    with pytest.raises(draw.DrawError, match="回避"):
        draw.run(inputs, "0" * 64)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"team_size": 1}, "至少 2 人"),
        ({"items_per_visit": 9}, "督查事项数"),
        ({"groups": 20}, "候选点位只有"),
        ({"inspectors": [{"id": 1, "home_township_id": None}]}, "督查人员库只有"),
    ],
)
def test_infeasible_inputs_are_refused(change, message):
    """Bad sizes are refused before anything is drawn, with the reason."""
    with pytest.raises(draw.DrawError, match=message):
        draw.validate({**make_inputs({1: 5, 2: 5}), **change})


def test_site_selection_is_unbiased_over_many_seeds():
    """Chi-square: within a township every candidate is drawn equally often (p > 0.001)."""
    inputs = make_inputs({1: 10, 2: 12}, groups=1, per_group=6, team=2)
    counts: Counter[str] = Counter()
    runs = 1500
    for i in range(runs):
        counts.update(chosen_keys(draw.run(inputs, draw.make_seed("0" * 64, str(i)))))
    for town, n, dof in ((1, 10, 9), (2, 12, 11)):
        keys = [c["key"] for c in inputs["candidates"] if c["township_id"] == town]
        allocated = draw.allocate({"1": 10, "2": 12}, 6, ["1", "2"])[str(town)]
        expected = runs * allocated / n
        chi2 = sum((counts[k] - expected) ** 2 / expected for k in keys)
        assert chi2 < CHI2_999[dof], (town, chi2)


def test_inspectors_and_items_are_unbiased_over_many_seeds():
    """Chi-square: every inspector and every check item is drawn equally often (p > 0.001)."""
    inputs = make_inputs(
        {1: 6}, groups=1, per_group=1, team=2, k=2, bank=5, inspectors=[(i, None) for i in range(1, 6)]
    )
    people: Counter[int] = Counter()
    items: Counter[str] = Counter()
    runs = 1500
    for i in range(runs):
        g = draw.run(inputs, draw.make_seed("1" * 64, str(i)))["groups"][0]
        people.update(g["inspector_ids"])
        items.update(g["sites"][0]["check_items"])
    expected = runs * 2 / 5
    assert sum((people[i] - expected) ** 2 / expected for i in range(1, 6)) < CHI2_999[4]
    assert sum((items[f"事项{i}"] - expected) ** 2 / expected for i in range(5)) < CHI2_999[4]


def test_verify_detects_a_changed_result():
    """Swapping one drawn site in the record is reported as a mismatch."""
    record = draw.publish(make_inputs({1: 6, 2: 6}), "88")
    record["result"]["groups"][0]["sites"][0]["key"] = "p999-v999"
    assert dict(draw.verify(record)) == {"input_hash": True, "seed": True, "result": False}


def test_verify_detects_changed_inputs():
    """Editing the inputs after the hash was published breaks the hash check."""
    record = draw.publish(make_inputs({1: 6, 2: 6}), "88")
    record["inputs"]["candidates"].pop()
    assert dict(draw.verify(record))["input_hash"] is False


def test_verify_script_runs_standalone(tmp_path):
    """scripts/verify_draw.py replays a record without the server package (exit 0 when it matches)."""
    path = tmp_path / "record.json"
    path.write_text(
        json.dumps(draw.publish(make_inputs({1: 5, 2: 5}), "2026088"), ensure_ascii=False), encoding="utf-8"
    )
    script = ROOT / "scripts" / "verify_draw.py"
    ok = subprocess.run([sys.executable, "-I", str(script), str(path)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "一致" in ok.stdout and "FAIL" not in ok.stdout


def test_verify_script_reports_a_forged_record(tmp_path):
    """A record whose public value was changed afterwards makes the script exit 1."""
    record = draw.publish(make_inputs({1: 5, 2: 5}), "2026088")
    record["public_value"] = "2026089"
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-I", str(ROOT / "scripts" / "verify_draw.py"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    assert "FAIL 随机种子" in out.stdout


def run_script(*args: str) -> subprocess.CompletedProcess:
    """scripts/verify_draw.py in an isolated interpreter."""
    return subprocess.run(
        [sys.executable, "-I", str(ROOT / "scripts" / "verify_draw.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_verify_script_has_help():
    """--help explains the record, the checks and the source, and exits 0."""
    out = run_script("--help")
    assert out.returncode == 0
    assert "usage: verify_draw.py" in out.stdout and "public_value" in out.stdout
    assert "where the public value had to come from" in out.stdout


SOURCE = {"description": "中国福利彩票双色球第2026141期开奖号码", "date": "2026-12-08"}


def test_verify_script_shows_the_committed_source(tmp_path):
    """The source and day fixed in the inputs are printed beside the public value to compare."""
    record = draw.publish({**make_inputs({1: 5, 2: 5}), draw.SOURCE_KEY: SOURCE}, "03 11 25 27 30 32 + 09")
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    out = run_script(str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "中国福利彩票双色球第2026141期开奖号码(公布日期 2026-12-08)" in out.stdout
    assert "03 11 25 27 30 32 + 09" in out.stdout


@pytest.mark.parametrize(
    ("drawn_at", "code"),
    [
        ("2026-12-08T13:30:00+00:00", 0),  # 21:30 in China on the day: after the lottery's announcement
        ("2026-12-07T15:59:00+00:00", 1),  # 23:59 in China the day before
    ],
)
def test_verify_script_checks_the_draw_was_not_early(tmp_path, drawn_at, code):
    """Given the round's summary, a draw dated (China time) before the source's day fails."""
    record = draw.publish({**make_inputs({1: 5, 2: 5}), draw.SOURCE_KEY: SOURCE}, "2026141")
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"id": 1, "drawn_at": drawn_at, "record": record}), encoding="utf-8")
    out = run_script(str(path))
    assert out.returncode == code, out.stdout
    assert ("FAIL 抽取日期" in out.stdout) == bool(code)


def test_source_is_part_of_the_input_hash():
    """Another source or day gives another input hash, so neither can change after freeze."""
    inputs = {**make_inputs({1: 5}), draw.SOURCE_KEY: SOURCE}
    assert draw.input_hash(inputs) != draw.input_hash({**inputs, draw.SOURCE_KEY: {**SOURCE, "date": "2026-12-09"}})
    assert draw.value_source(inputs) == SOURCE and draw.value_source(make_inputs({1: 5})) is None


# ---- standing teams and declared recusals (sp-draw/2) -------------------------------------------------


def with_teams(inputs: dict, teams: list[list[int]], recusals: dict[int, list[str]] | None = None) -> dict:
    """`inputs` sending standing teams (lists of inspector ids; the first is the 组长) with declared recusals."""
    out = dict(inputs)
    out["teams"] = [
        {"id": n + 1, "name": f"第{n + 1}督查组", "leader_id": members[0], "member_ids": sorted(members)}
        for n, members in enumerate(teams)
    ]
    out["inspectors"] = [{"id": i, "home_township_id": None} for t in teams for i in t]
    out["groups"] = len(teams)
    out["recusals"] = [
        {"inspector_id": i, "scope": "village", "keys": sorted(keys)} for i, keys in sorted((recusals or {}).items())
    ]
    return out


@st.composite
def team_rounds(draw_):
    """Team-mode inputs with random conflicts that leave every candidate at least one team."""
    n_teams = draw_(st.integers(2, 4))
    per_group = draw_(st.integers(1, 2))
    towns = {t: draw_(st.integers(2, 4)) for t in range(1, draw_(st.integers(2, 4)) + 1)}
    base = make_inputs(towns, groups=n_teams, per_group=per_group)
    if n_teams * per_group > len(base["candidates"]):
        per_group = 1
        base["sites_per_group"] = 1
    members = [[10 * t + 1, 10 * t + 2] for t in range(n_teams)]
    keys = [c["key"] for c in base["candidates"]]
    recusals: dict[int, list[str]] = {}
    for t, team in enumerate(members):
        # Each team but the last may be barred from some sites: the last one can go anywhere.
        if t < n_teams - 1:
            barred = draw_(st.lists(st.sampled_from(keys), max_size=len(keys) // 2, unique=True))
            if barred:
                recusals[team[draw_(st.integers(0, 1))]] = barred
    return with_teams(base, members, recusals)


@settings(max_examples=60, deadline=None)
@given(team_rounds(), st.text(min_size=1, max_size=8))
def test_a_team_is_never_sent_where_a_member_declared_a_conflict(inputs, public):
    """Over many seeds and conflicts: each group gets one whole team, none barred from its sites, each team once."""
    try:
        result = draw.publish(inputs, public)["result"]
    except draw.DrawError as exc:
        # Only a combination the rules cannot staff may refuse, and it names drawn sites.
        assert exc.details["sites"] and "无法派出督查组" in exc.message
        return
    barred = {r["inspector_id"]: set(r["keys"]) for r in inputs["recusals"]}
    teams = {t["id"]: t for t in inputs["teams"]}
    assert sorted(g["team_id"] for g in result["groups"]) == sorted(teams)
    for g in result["groups"]:
        assert g["inspector_ids"] == teams[g["team_id"]]["member_ids"]
        for s in g["sites"]:
            assert not any(s["key"] in barred.get(m, set()) for m in g["inspector_ids"])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 3), st.text(min_size=1, max_size=8))
def test_loose_inspectors_respect_declared_recusals(groups, public):
    """Without teams, an inspector who declared a conflict with a site never sits in that site's group."""
    inputs = make_inputs({1: 4, 2: 4}, groups=groups, per_group=2, inspectors=[(i, None) for i in range(1, 10)])
    keys = [c["key"] for c in inputs["candidates"]]
    inputs["recusals"] = [
        {"inspector_id": i, "scope": "village", "keys": sorted(keys[i % 8 : i % 8 + 3])} for i in range(1, 5)
    ]
    result = draw.publish(inputs, public)["result"]
    barred = {r["inspector_id"]: set(r["keys"]) for r in inputs["recusals"]}
    for g in result["groups"]:
        for s in g["sites"]:
            assert not any(s["key"] in barred.get(i, set()) for i in g["inspector_ids"])


def test_conflicted_site_always_goes_to_the_other_team():
    """Two teams, two sites, one member of team 1 barred from site A: A goes to team 2 under every seed."""
    base = make_inputs({1: 2}, groups=2, per_group=1)
    site_a = base["candidates"][0]["key"]
    inputs = with_teams(base, [[1, 2], [3, 4]], {2: [site_a]})
    for i in range(200):
        result = draw.run(inputs, draw.make_seed("2" * 64, str(i)))
        team_of = {s["key"]: g["team_id"] for g in result["groups"] for s in g["sites"]}
        assert team_of[site_a] == 2


def test_uncoverable_site_is_refused_before_the_draw_naming_it():
    """A candidate every team is barred from makes validate() refuse, naming that site."""
    base = make_inputs({1: 3}, groups=2, per_group=1)
    stuck = base["candidates"][1]
    inputs = with_teams(base, [[1, 2], [3, 4]], {1: [stuck["key"]], 4: [stuck["key"]]})
    with pytest.raises(draw.DrawError) as exc:
        draw.validate(inputs)
    assert stuck["label"] in exc.value.message and exc.value.details["sites"] == [stuck["key"]]


def test_impossible_combination_is_refused_at_draw_naming_the_sites():
    """Each site has a team, but two drawn sites only the same team may visit: the draw names them."""
    base = make_inputs({1: 2}, groups=2, per_group=1)
    a, b = (c["key"] for c in base["candidates"])
    # Team 2 may go to neither site (member 3 to a, member 4 to b); team 1 to both, but it takes only one.
    inputs = with_teams(base, [[1, 2], [3, 4]], {3: [a], 4: [b]})
    draw.validate(inputs)
    with pytest.raises(draw.DrawError, match="无法派出督查组") as exc:
        draw.run(inputs, "0" * 64)
    assert exc.value.details["sites"] and set(exc.value.details["sites"]) <= {a, b}
    assert all(label in exc.value.message for label in exc.value.details["labels"])


def test_team_rules_of_the_inputs_are_checked():
    """Groups must equal the teams, each team two members at least, nobody in two teams."""
    base = make_inputs({1: 4}, groups=2, per_group=1)
    good = with_teams(base, [[1, 2], [3, 4]])
    draw.validate(good)
    with pytest.raises(draw.DrawError, match="工作组数应等于"):
        draw.validate({**good, "groups": 3})
    with pytest.raises(draw.DrawError, match="至少需要 2 名"):
        draw.validate(with_teams(base, [[1], [3, 4]]))
    with pytest.raises(draw.DrawError, match="同时在其他督查组"):
        draw.validate(with_teams(base, [[1, 2], [2, 4]]))


def test_a_v1_record_may_not_carry_teams():
    """sp-draw/1 inputs never had teams or recusals: a record claiming both is refused."""
    inputs = {**with_teams(make_inputs({1: 4}, groups=2, per_group=1), [[1, 2], [3, 4]]), "format": "sp-draw/1"}
    with pytest.raises(draw.DrawError, match="sp-draw/1"):
        draw.validate(inputs)


def test_round_frozen_before_teams_still_verifies(tmp_path):
    """A record made by the sp-draw/1 code (tests/data/draw_record_v1.json) still replays exactly."""
    path = ROOT / "tests" / "data" / "draw_record_v1.json"
    record = json.loads(path.read_text(encoding="utf-8"))["record"]
    assert record["inputs"]["format"] == "sp-draw/1" and "teams" not in record["inputs"]
    assert dict(draw.verify(record)) == {"input_hash": True, "seed": True, "result": True}
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify_draw.py"), str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK   抽取结果 result" in out.stdout
