"""Restore the database and the object store of the configured deployment from a backup.

Usage: python scripts/restore.py BACKUP_DIR [--force]
Checks every file against the backup's manifest before touching anything, refuses a database
or storage that already holds data unless --force, loads the database, applies migrations (an
older backup comes up to this code's schema) and puts every object back. Stop the app first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.backup import BackupError, restore  # noqa: E402
from server.config import ConfigError, load_config  # noqa: E402
from server.storage import StorageError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run one restore; exit status 1 with the reason on stderr when it is refused or fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backup_dir", type=Path, help="a sp-backup-<time> folder written by backup.py")
    parser.add_argument("--force", action="store_true", help="replace a database and storage that hold data")
    args = parser.parse_args(argv)
    try:
        manifest = restore(load_config(), args.backup_dir, force=args.force)
    except (BackupError, ConfigError, StorageError) as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored the database and {len(manifest['objects'])} objects from {args.backup_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
