"""JSON-schema pieces shared by the endpoints (they validate requests and feed the OpenAPI document)."""

from __future__ import annotations

CLIENT_ID = {"type": "string", "format": "uuid", "description": "UUID made by the phone; identifies the write across retries"}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "RFC 3339 with offset"}
SENT_AT = {**TIMESTAMP, "description": "the phone's clock when sending (RFC 3339)"}
LAT = {"type": "number", "minimum": -90, "maximum": 90}
LNG = {"type": "number", "minimum": -180, "maximum": 180}
COORD_TYPE = {"type": "string", "enum": ["wgs84", "gcj02"], "default": "wgs84"}
CODE12 = {"type": "string", "pattern": "^[0-9]{12}$", "description": "12-digit division code"}
NAME = {"type": "string", "minLength": 1, "maxLength": 64}
RADIUS = {"type": "integer", "minimum": 20, "maximum": 20000}
ID = {"type": "integer", "minimum": 1}
IDS = {"type": "array", "items": ID, "uniqueItems": True, "maxItems": 500}
DATE = {"type": "string", "format": "date"}
BOUNDARY = {"type": ["object", "null"], "description": "GeoJSON Polygon in WGS-84 (lng, lat order)"}

PAGE_QUERY = {
    "page": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
}


def obj(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    """An object schema that refuses unknown fields."""
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False, **extra}


def page_of(item: dict | None = None) -> dict:
    """The response schema of a paginated list."""
    return obj({"items": {"type": "array", "items": item or {"type": "object"}},
                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "total": {"type": "integer"}})
