"""Replay a random inspection round (双随机) from its published record and say whether it matches.

The record is what GET /api/v1/public/rounds/<id>/record answers once the round is closed, or
the round's summary GET /api/v1/public/rounds/<id> (which carries it under "record"); save it to
a file, or give "-" to read standard input. The script recomputes

  1. the input hash: SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of `inputs`,
     which must equal the hash published before the draw;
  2. the seed: SHA-256(input_hash + ":" + public_value);
  3. the result: the deterministic draw of server/draw.py (its docstring describes every step),
     including the standing teams a round sent and the declared conflicts (recusals) it applied,
     both part of the hashed inputs (sp-draw/2; older sp-draw/1 records replay as before);

and prints one line per check. It also prints where the public value had to come from and the
day it was published, both fixed in the hashed inputs at freeze: compare the record's public
value with that official result yourself (e.g. the lottery's announcement). Given the summary,
it checks that the draw did not happen before that day (China time).

Exit status 0 when every check matches, 1 otherwise, 2 when the file cannot be read. It needs
only Python 3.11+ and the file server/draw.py beside this script's folder (loaded by path, so
neither Flask nor the rest of the server is needed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

DRAW = Path(__file__).resolve().parent.parent / "server" / "draw.py"
CHINA = timezone(timedelta(hours=8))
LABELS = {
    "input_hash": "输入哈希 input_hash",
    "seed": "随机种子 seed",
    "result": "抽取结果 result",
    "drawn_on_time": "抽取日期 drawn_at ≥ 公布日期",
}


def load_draw():
    """server/draw.py as a standalone module (the server package itself is not imported)."""
    spec = importlib.util.spec_from_file_location("sp_draw", DRAW)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line: one record file (or "-")."""
    parser = argparse.ArgumentParser(
        prog="verify_draw.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("record", help='the saved record or round summary (JSON), or "-" for standard input')
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Verify the record named on the command line; print the checks; return the exit status."""
    args = parse_args(argv)
    try:
        text = sys.stdin.read() if args.record == "-" else Path(args.record).read_text(encoding="utf-8")
        document = json.loads(text)
        record = document.get("record", document)
    except (OSError, ValueError, AttributeError) as exc:
        print(f"无法读取记录: {exc}", file=sys.stderr)
        return 2
    draw = load_draw()
    try:
        checks = draw.verify(record)
        source = draw.value_source(record["inputs"])
    except (KeyError, TypeError, AttributeError) as exc:
        print(f"记录不完整: {exc!r}", file=sys.stderr)
        return 2
    drawn_at = document.get("drawn_at") if document is not record else None
    if source and drawn_at:
        drawn_day = datetime.fromisoformat(drawn_at).astimezone(CHINA).date().isoformat()
        checks.append(("drawn_on_time", drawn_day >= source["date"]))
    for what, ok in checks:
        print(f"{'OK  ' if ok else 'FAIL'} {LABELS[what]}")
    if source:
        print(f"公开随机数来源 source: {source['description']}(公布日期 {source['date']})")
        print(f"记录中的公开随机数 public value: {record['public_value']}  ← 请与官方公布的结果核对")
    else:
        print("公开随机数来源 source: 记录未写明(本轮在要求写明来源之前冻结)")
    inputs = record["inputs"]
    if inputs.get("teams"):
        print(f"派出督查组 teams: {'、'.join(t['name'] for t in inputs['teams'])}")
    for rec in inputs.get("recusals") or []:
        # The record names no person's reasons: only whose group may not go where.
        print(f"回避 recusal: 督查人员 #{rec['inspector_id']} 申报回避 {len(rec['keys'])} 个点位(已计入输入哈希)")
    ok = all(ok for _, ok in checks)
    print("一致: the published draw is reproduced exactly" if ok else "不一致: the record does not reproduce")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
