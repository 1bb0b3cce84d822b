"""Generate an Alembic migration from the models: python scripts/make_migration.py "message"."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command  # noqa: E402

from server.db import alembic_config, upgrade  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/migrate.db"
        upgrade(url)  # compare the models with the schema the existing migrations build
        command.revision(alembic_config(url), message=sys.argv[1], autogenerate=True)
