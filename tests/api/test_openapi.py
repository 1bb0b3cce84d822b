"""The OpenAPI document covers every route of the API and of the operations endpoints."""

import re

import pytest
from jsonschema import Draft202012Validator

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule the app serves under /api/v1 and of the health blueprint."""
    out = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("health.")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        out |= {(path, m) for m in rule.methods - IGNORED_METHODS}
    return out


def operations(doc):
    """(path, METHOD, operation) of every operation in the document."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method.upper(), op


@pytest.fixture
def doc(client):
    """The served OpenAPI document."""
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def test_document_is_openapi_31(doc):
    """The document declares OpenAPI 3.1, a title and the bearer scheme."""
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_document_lists_every_route(app, doc):
    """Every route under /api/v1, /healthz, /readyz and /metrics is in the document, method by method, and nothing else."""
    served = routes(app)
    documented = {(path, method) for path, method, _ in operations(doc)}
    assert len(served) > 30
    assert served - documented == set(), "routes missing from the document"
    assert documented - served == set(), "documented operations the app does not serve"


def test_path_parameters_are_declared(doc):
    """Each {name} in a path is declared as a required path parameter of its operations."""
    for path, method, op in operations(doc):
        names = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in op["parameters"] if p["in"] == "path" and p["required"]}
        assert names == declared, (method, path)


def test_every_operation_has_responses(doc):
    """Every operation answers at least one success status, and every error status uses the Error schema."""
    for path, method, op in operations(doc):
        statuses = [int(s) for s in op["responses"]]
        assert any(200 <= s < 300 for s in statuses), (method, path)
        for status in statuses:
            if status >= 400:
                schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_request_bodies_have_json_schemas(doc):
    """Every request body has a valid JSON schema of an object (JSON, or multipart for uploads)."""
    with_body = 0
    for path, method, op in operations(doc):
        if "requestBody" not in op:
            continue
        with_body += 1
        content = op["requestBody"]["content"]
        assert len(content) == 1 and set(content) <= {"application/json", "multipart/form-data"}, (method, path)
        schema = next(iter(content.values()))["schema"]
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", (method, path)
    assert with_body > 15


def test_operation_ids_are_unique(doc):
    """No two operations share an operationId."""
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_protected_operations_declare_bearer(app, doc):
    """Operations that need a token say so; the login and health endpoints do not."""
    ops = {(p, m): op for p, m, op in operations(doc)}
    assert ops[("/api/v1/admin/users", "GET")]["security"] == [{"bearer": []}]
    assert "Roles: admin" in ops[("/api/v1/admin/users", "GET")]["description"]
    assert "security" not in ops[("/api/v1/auth/login", "POST")]
    assert "security" not in ops[("/healthz", "GET")]
    assert "security" not in ops[("/readyz", "GET")]


def test_documented_schema_is_the_validating_one(client, doc):
    """The body schema in the document is the one requests are checked against (unknown fields refused)."""
    schema = doc["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"username", "password"}
    r = client.post("/api/v1/auth/login", json={"username": "a", "password": "b", "extra": 1})
    assert r.status_code == 400


def test_photo_tickets_document_no_fix_and_compressed(doc):
    """A visit photo ticket needs lat/lng unless no_fix is true; every owner's ticket takes the declarations."""

    def body(path):
        return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]

    visit = body("/api/v1/visits/{visit_id}/photos")
    assert {"no_fix", "compressed"} <= set(visit["properties"]) and not {"lat", "lng"} & set(visit["required"])
    assert visit["if"]["properties"]["no_fix"] == {"const": True} and visit["else"]["required"] == ["lat", "lng"]
    for path in ("/api/v1/projects/reports/photos", "/api/v1/rectifications/photos"):
        assert {"no_fix", "compressed"} <= set(body(path)["properties"]), path
    assert "compressed" in body("/api/v1/feedback/photos")["properties"]


def test_submit_documents_missing(doc):
    """submit takes at most 100 given-up items, each with a known kind and a client_id."""
    schema = doc["paths"]["/api/v1/visits/{visit_id}/submit"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["properties"]["missing"]
    assert schema["maxItems"] == 100 and set(schema["items"]["required"]) == {"kind", "client_id"}
    assert schema["items"]["properties"]["kind"]["enum"] == ["photo", "interview", "checkin", "checklist", "note"]


def test_busy_answers_document_retry_after(doc):
    """Every documented 429 and 503 answer declares the Retry-After header."""
    seen = 0
    for path, method, op in operations(doc):
        for status in ("429", "503"):
            if status in op["responses"]:
                seen += 1
                assert "Retry-After" in op["responses"][status]["headers"], (method, path, status)
    assert seen >= 3


def test_album_policy_is_documented(doc):
    """Admins write allow_album (a boolean) on create and edit; the three answers the phone reads declare it."""

    def schema(path, method, part):
        op = doc["paths"][path][method]
        where = op["requestBody"] if part == "body" else op["responses"][part]
        return where["content"]["application/json"]["schema"]

    for method in ("post", "patch"):
        path = "/api/v1/admin/projects" + ("/{project_id}" if method == "patch" else "")
        assert schema(path, method, "body")["properties"]["allow_album"]["type"] == "boolean", method
    reports = schema("/api/v1/projects/{project_id}/reports", "get", "200")
    order = schema("/api/v1/rectifications/{order_id}", "get", "200")
    assert reports["properties"]["allow_album"]["type"] == "boolean"
    assert order["properties"]["project"]["properties"]["allow_album"]["type"] == "boolean"


def test_project_level_is_documented(doc):
    """GET /admin/projects takes ?level=, and create/edit take level (one of four, or null)."""
    projects = doc["paths"]["/api/v1/admin/projects"]
    [level] = [p for p in projects["get"]["parameters"] if p["name"] == "level"]
    assert level["in"] == "query" and level["schema"]["enum"] == ["county", "township", "village", "county_secretary"]
    for path, method in (("/api/v1/admin/projects", "post"), ("/api/v1/admin/projects/{project_id}", "patch")):
        body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert None in body["properties"]["level"]["enum"], (path, method)
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/lead-items"])
    assert "post" in doc["paths"]["/api/v1/lead-items/{item_id}/suggestion"]
