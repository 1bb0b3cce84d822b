"""Object storage; the module moved to storage/local.py and is split next."""

from server.storage.local import *  # noqa: F403 - every public name, until the split
