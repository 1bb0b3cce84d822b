"""Which tests share a pytest-xdist worker: `--dist loadgroup` with the groups named from the node ids.

pytest-xdist 3.8 passes a test's xdist_group to its scheduler by appending "@group" to the node id,
which pytest 9.2's structured node ids no longer take (pytest-xdist issue #1386): every test was
scheduled alone, so each worker that drew a test of a module-scoped module (a 3-node Galera cluster,
a private MariaDB or gunicorn) built those servers again, and the browser tests launched three
Chromiums. This scheduler names the groups itself, from the paths alone.
"""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling

# Modules whose expensive fixtures (a cluster, a private MariaDB or gunicorn, the base data of a whole
# module, a fresh interpreter importing everything) are module-scoped: each runs on one worker, so they are made once.
MODULE_GROUPS = ("tests/faults/", "tests/hostile/", "tests/test_cluster.py", "tests/test_app.py")
# Modules that share one worker with another: tests/test_galera_writes.py works on the session's cluster
# that tests/test_cluster.py started (tests/conftest.py `cluster`), in a database of its own.
SHARED = {"tests/test_galera_writes.py": "tests/test_cluster.py"}
BROWSER_GROUPS = 2
# The longest groups start first, so none of them is left running alone at the end (each is minutes of
# wall time on two cores); the rest follow in xdist's order, the groups with most tests first. Not the
# concurrent schemathesis runs: their gunicorn, started beside the cluster's, missed its 30 s start.
FIRST = ("tests/test_cluster.py", "browser-0", "browser-1")


def groups_of(paths: list[str]) -> dict[str, str]:
    """The group of each test file that has one: the browser files alternate between BROWSER_GROUPS
    groups (a Chromium each), every module under MODULE_GROUPS is a group of its own, and a SHARED
    module joins another's."""
    browser = sorted(p for p in set(paths) if p.startswith("tests/browser/"))
    out = {path: f"browser-{n % BROWSER_GROUPS}" for n, path in enumerate(browser)}
    out.update({p: p for p in paths if p.startswith(MODULE_GROUPS)})
    out.update({p: SHARED[p] for p in paths if p in SHARED})
    return out


class GroupScheduling(LoadGroupScheduling):
    """loadgroup scheduling over groups_of(): a group's tests run on one worker, in collection order."""

    _groups: dict[str, str] | None = None
    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        """The group of the test's file, else the test alone (its node id)."""
        if self._groups is None:
            collection = next(iter(self.registered_collections.values()))
            self._groups = groups_of([n.split("::", 1)[0] for n in collection])
        return self._groups.get(nodeid.split("::", 1)[0], nodeid)

    def _assign_work_unit(self, node) -> None:
        """Hand out the FIRST groups before any other work."""
        if not self._ordered:
            self._ordered = True
            for scope in reversed(FIRST):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
        super()._assign_work_unit(node)
