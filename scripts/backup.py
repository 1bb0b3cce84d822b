"""Back up the database and the object store of the configured deployment into one directory.

Usage: python scripts/backup.py [--dest DIR] [--keep N]
Reads the same environment as the app (DATABASE_URL, STORAGE_BACKEND, S3_*, STORAGE_DIR…) and
writes DIR/sp-backup-<UTC time>/ with manifest.json (SHA-256 of every file); --keep N deletes
all but the N newest backups afterwards. Restore with scripts/restore.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.backup import BackupError, backup, prune  # noqa: E402
from server.config import ConfigError, load_config  # noqa: E402
from server.storage import StorageError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run one backup; exit status 1 with the reason on stderr when it fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path("backups"), help="folder of backups (default ./backups)")
    parser.add_argument("--keep", type=int, default=0, help="keep only the N newest backups (0: keep all)")
    args = parser.parse_args(argv)
    try:
        path = backup(load_config(), args.dest)
    except (BackupError, ConfigError, StorageError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(path)
    if args.keep > 0:
        for old in prune(args.dest, args.keep):
            print(f"deleted old backup {old}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
