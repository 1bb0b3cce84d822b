"""Schemathesis against the served OpenAPI document: whatever it sends, the API never answers 5xx."""

from __future__ import annotations

import os
import re

import schemathesis
from hypothesis import HealthCheck, settings

from server.api import ENDPOINTS
from server.api.openapi import build_document

# Kept small so the suite stays fast; a bug hunt sets e.g. SCHEMATHESIS_EXAMPLES=200 (random seeds then).
DEFAULT_EXAMPLES = 5
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", DEFAULT_EXAMPLES))
# Who calls each operation: a holder of its first role, so authenticated paths run past the role check.
CALLER_OF_ROLE = {"admin": "admin", "inspector": "insp_a", "reviewer": "reviewer1", "leader": "leader",
                  "secretary": "secretary"}
ROLES = {(ep.method, ep.path): ep.roles for ep in ENDPOINTS}


# Loaded at import (pytest parametrizes at collection); test_served_document_is_the_tested_one ties it to the app.
schema = schemathesis.openapi.from_dict(build_document())


def test_served_document_is_the_tested_one(shared_app):
    """/api/v1/openapi.json serves exactly the document the fuzzing below is generated from."""
    app, _ = shared_app
    assert app.test_client().get("/api/v1/openapi.json").get_json() == build_document()


def token_for(case, world) -> str:
    """A token of a user who holds the operation's role (a villager for open-to-all operations)."""
    path = case.operation.path
    for ep_method, ep_path in ROLES:
        flask_style = ep_path
        if ep_method == case.method.upper() and _same_path(flask_style, path):
            roles = ROLES[(ep_method, ep_path)]
            return world.tokens[CALLER_OF_ROLE.get(roles[0], "villager") if roles else "villager"]
    return world.tokens["villager"]


def _same_path(flask_rule: str, openapi_path: str) -> bool:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", flask_rule) == openapi_path


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=EXAMPLES == DEFAULT_EXAMPLES)
def test_no_operation_answers_5xx(case, shared_app):
    """Generated requests (valid and not) to every documented operation never get a 5xx."""
    app, world = shared_app
    response = case.call(app=app, headers={"Authorization": f"Bearer {token_for(case, world)}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                        response.text[:500])
