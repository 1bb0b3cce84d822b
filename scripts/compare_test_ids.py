"""Check that a change of the suite dropped no test: compare two `pytest --collect-only -q` listings.

Usage: python scripts/compare_test_ids.py BEFORE.txt AFTER.txt

Test ids are compared without their database parameter ([sqlite], [mariadb], or that part of a
longer id), so a test moved from both databases to one still counts as kept. Exits 1 and lists
the ids BEFORE has and AFTER lacks; ids only AFTER has are new tests.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DATABASES = {"sqlite", "mariadb"}


def normalize(node_id: str) -> str:
    """The id without its database parameter: t[sqlite-x] -> t[x], t[mariadb] -> t."""
    match = re.fullmatch(r"(.*?)\[(.*)\]", node_id)
    if not match:
        return node_id
    parts = [p for p in match.group(2).split("-") if p not in DATABASES]
    return f"{match.group(1)}[{'-'.join(parts)}]" if parts else match.group(1)


def ids(path: Path) -> dict[str, int]:
    """Normalized test ids of a collect-only listing, with how many items each stands for."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        if "::" in line and not line.startswith(("=", " ")):
            key = normalize(line.strip())
            counts[key] = counts.get(key, 0) + 1
    return counts


def main(before: str, after: str) -> int:
    """Print the comparison; 0 when every test of BEFORE is still collected."""
    old, new = ids(Path(before)), ids(Path(after))
    dropped = sorted(set(old) - set(new))
    print(
        f"items: {sum(old.values())} -> {sum(new.values())}; tests: {len(old)} -> {len(new)}; "
        f"dropped: {len(dropped)}; new: {len(set(new) - set(old))}"
    )
    for node_id in dropped:
        print(f"DROPPED {node_id}")
    return 1 if dropped else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
