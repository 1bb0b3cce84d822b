"""Another request run whole at a chosen step of the request under test: races made deterministic."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest


class Meanwhile:
    """`request`, run to its end in a thread of its own (its own app context and session) on the first call.

    Call it from a step of the request under test (see `before`): that request waits there while
    the other one runs, as if it had landed in that gap. Later calls, such as the other request
    passing the same step, do nothing. `answer` is what the other request returned (None until
    it has run).
    """

    def __init__(self, request: Callable[[], Any], timeout: float = 60) -> None:
        self._request, self._timeout = request, timeout
        self._due = True
        self.answer: Any = None

    def __call__(self) -> None:
        if self._due:
            self._due = False
            with ThreadPoolExecutor(max_workers=1) as pool:
                self.answer = pool.submit(self._request).result(timeout=self._timeout)


def before(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, meanwhile: Meanwhile) -> None:
    """Make `owner.name` (a module's function, or a class's method) run `meanwhile` first."""
    original = getattr(owner, name)

    def step(*args, **kwargs):
        meanwhile()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, step)
