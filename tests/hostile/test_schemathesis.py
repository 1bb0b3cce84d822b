"""Schemathesis against the served OpenAPI document: whatever it sends, the API never answers 5xx,
answers only status codes the document lists, and every answer matches the documented schema."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.api import ENDPOINTS
from server.api.openapi import build_document

# Kept small so the suite stays fast (the whole module: ~75 s of CPU, most of it the coverage phase);
# a bug hunt sets e.g. SCHEMATHESIS_EXAMPLES=200 (random seeds then).
DEFAULT_EXAMPLES = 5
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", DEFAULT_EXAMPLES))
# Set by test_schemathesis_concurrent.py: a JSON file {"url": …, "tokens": {caller: token}} of a live
# server (gunicorn) that this module's fuzzing then runs against over HTTP instead of in-process.
LIVE = os.environ.get("SCHEMATHESIS_LIVE")
# Who calls each operation: a holder of its first role, so authenticated paths run past the role check.
CALLER_OF_ROLE = {
    "admin": "admin",
    "inspector": "insp_a",
    "reviewer": "reviewer1",
    "leader": "leader",
    "secretary": "secretary",
}
ROLES = {(ep.method, ep.path): ep.roles for ep in ENDPOINTS}
# What every answer is held to: no 5xx, a documented status, the documented content type and schema.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# The coverage phase (boundary and negative values of every field, ~80 % of the run's time) can be
# turned off with SCHEMATHESIS_COVERAGE=0, as the concurrent run does by default to stay short.
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE", "1") != "0"

# Loaded at import (pytest parametrizes at collection); test_served_document_is_the_tested_one ties it to the app.
schema = schemathesis.openapi.from_dict(
    build_document(), config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": COVERAGE}}})
)


@pytest.fixture(scope="module")
def target(request):
    """(call, tokens): how a case reaches the API — the shared app in-process, or the live server."""
    if LIVE:
        live = json.loads(Path(LIVE).read_text())
        return (lambda case, headers: case.call(base_url=live["url"], headers=headers, timeout=90)), live["tokens"]
    app, world = request.getfixturevalue("shared_app")
    return (lambda case, headers: case.call(app=app, headers=headers)), world.tokens


@pytest.mark.skipif(bool(LIVE), reason="in-process only")
def test_served_document_is_the_tested_one(shared_app):
    """/api/v1/openapi.json serves exactly the document the fuzzing below is generated from."""
    app, _ = shared_app
    assert app.test_client().get("/api/v1/openapi.json").get_json() == build_document()


def token_for(case, tokens: dict[str, str]) -> str:
    """A token of a user who holds the operation's role (a villager for open-to-all operations)."""
    path = case.operation.path
    for ep_method, ep_path in ROLES:
        if ep_method == case.method.upper() and _same_path(ep_path, path):
            roles = ROLES[(ep_method, ep_path)]
            return tokens[CALLER_OF_ROLE.get(roles[0], "villager") if roles else "villager"]
    return tokens["villager"]


def _same_path(flask_rule: str, openapi_path: str) -> bool:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", flask_rule) == openapi_path


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=EXAMPLES <= DEFAULT_EXAMPLES,
)
def test_every_answer_conforms_to_the_document(case, target):
    """Generated requests (valid and not) to every documented operation: never a 5xx, never an
    undocumented status code, and every body matches the schema documented for its status."""
    call, tokens = target
    response = call(case, {"Authorization": f"Bearer {token_for(case, tokens)}"})
    if LIVE and response.status_code == 414:
        # gunicorn refuses a request line over 4094 bytes before the app sees it (nginx does the
        # same at 8 KB): the HTTP server's limit, not an answer of the API the document describes.
        assert len(response.request.url) > 4000, response.request.url
        return
    case.validate_response(response, checks=CHECKS)
