"""Replay a random inspection round (双随机) from its published record and say whether it matches.

Usage:
    python3 scripts/verify_draw.py published_record.json

The record is what GET /api/v1/public/rounds/<id>/record answers once the round is closed
(save it to a file; "-" reads it from standard input). The script recomputes

  1. the input hash: SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of `inputs`,
     which must equal the hash published before the draw;
  2. the seed: SHA-256(input_hash + ":" + public_value);
  3. the result: the deterministic draw of server/draw.py (its docstring describes every step);

and prints one line per check. Exit status 0 when all three match, 1 otherwise, 2 when the file
cannot be read. It needs only Python 3.11+ and the file server/draw.py beside this script's
folder (it is loaded by path, so neither Flask nor the rest of the server is needed).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

DRAW = Path(__file__).resolve().parent.parent / "server" / "draw.py"
LABELS = {"input_hash": "输入哈希 input_hash", "seed": "随机种子 seed", "result": "抽取结果 result"}


def load_draw():
    """server/draw.py as a standalone module (the server package itself is not imported)."""
    spec = importlib.util.spec_from_file_location("sp_draw", DRAW)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    """Verify the record named on the command line; print the checks; return the exit status."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if argv[1] == "-" else Path(argv[1]).read_text(encoding="utf-8")
        record = json.loads(text)
        if "record" in record:  # the round's public summary carries the record under "record"
            record = record["record"]
    except (OSError, ValueError) as exc:
        print(f"无法读取记录: {exc}", file=sys.stderr)
        return 2
    try:
        checks = load_draw().verify(record)
    except (KeyError, TypeError) as exc:
        print(f"记录不完整: {exc!r}", file=sys.stderr)
        return 2
    for what, ok in checks:
        print(f"{'OK  ' if ok else 'FAIL'} {LABELS[what]}")
    ok = all(ok for _, ok in checks)
    print("一致: the published draw is reproduced exactly" if ok else "不一致: the record does not reproduce")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
