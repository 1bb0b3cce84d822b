"""tests/support/scheduling.py: which tests share a pytest-xdist worker under `--dist loadgroup`."""

from __future__ import annotations

from types import SimpleNamespace

from tests.support.scheduling import GroupScheduling, groups_of

CLUSTER = [f"tests/test_cluster.py::test_{n}" for n in ("galera", "rate_limit", "phones", "render_site")]
KILLED = [f"tests/faults/test_worker_killed.py::test_checkin[{db}]" for db in ("sqlite", "mariadb")]
BROWSER = [f"tests/browser/test_{name}.py::test_it" for name in ("a", "b", "c")]
PLAIN = [f"tests/test_geo.py::test_{n}" for n in range(6)]


class Worker:
    """Stands in for xdist's WorkerController: records the batches of test indexes it is sent."""

    shutting_down = False

    def __init__(self, n: int) -> None:
        self.gateway = SimpleNamespace(id=f"gw{n}")
        self.batches: list[list[int]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        """Record one batch."""
        self.batches.append(indexes)

    def shutdown(self) -> None:
        """Take no more work."""
        self.shutting_down = True


def _run(collection: list[str], workers: int) -> tuple[dict[str, int], list[str]]:
    """Schedule the collection on `workers` workers, completing every test sent: the worker of each test, and
    the first batch handed out."""
    config = SimpleNamespace(getvalue={"tx": [f"{workers}*popen"]}.get, option=SimpleNamespace(loadscopereorder=True))
    scheduler = GroupScheduling(config)
    nodes = [Worker(n) for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    first = [collection[i] for i in nodes[0].batches[0]]
    ran: dict[str, int] = {}
    done = {id(node): 0 for node in nodes}
    while len(ran) < len(collection):
        for n, node in enumerate(nodes):
            sent = [i for batch in node.batches for i in batch]
            for index in sent[done[id(node)] :]:
                ran[collection[index]] = n
                scheduler.mark_test_complete(node, index)
            done[id(node)] = len(sent)
    return ran, first


def test_a_module_with_module_scoped_servers_runs_on_one_worker_and_the_cluster_first():
    """Every test of the cluster module, and of a fault module, goes to one worker (one cluster, one
    gunicorn); the cluster's group is handed out before anything else; other tests spread."""
    collection = PLAIN[:3] + CLUSTER[:2] + KILLED + PLAIN[3:] + CLUSTER[2:] + BROWSER
    ran, first = _run(collection, 3)
    assert first == CLUSTER
    assert len({ran[t] for t in CLUSTER}) == 1
    assert len({ran[t] for t in KILLED}) == 1
    assert len({ran[t] for t in PLAIN}) > 1


def test_browser_files_alternate_between_two_groups_and_plain_modules_have_none():
    """Two Chromiums: the browser files (sorted) alternate between two groups; a plain module has no group."""
    groups = groups_of([t.split("::")[0] for t in BROWSER + PLAIN + CLUSTER])
    assert [groups[t.split("::")[0]] for t in BROWSER] == ["browser-0", "browser-1", "browser-0"]
    assert "tests/test_geo.py" not in groups
    assert groups["tests/test_cluster.py"] == "tests/test_cluster.py"
    # The Galera write tests run on the cluster module's cluster: they share its worker.
    assert groups_of(["tests/test_galera_writes.py"]) == {"tests/test_galera_writes.py": "tests/test_cluster.py"}
