"""JSON-schema pieces shared by the endpoints (they validate requests and feed the OpenAPI document)."""

from __future__ import annotations

CLIENT_ID = {
    "type": "string",
    "format": "uuid",
    "description": "UUID made by the phone; identifies the write across retries",
}
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

# Photo tickets: what the phone declares beside the photo (the server flags the photo).
NO_FIX = {
    "type": "boolean",
    "description": "true: no location fix came in time; lat/lng are then not required and the photo is flagged no_fix",
}
COMPRESSED = {
    "type": "boolean",
    "description": "true: the phone compressed an over-size original with the "
    "inspector's consent; the photo is flagged compressed",
}
# lat/lng are required unless no_fix is true, and never one without the other.
FIX_OR_NO_FIX = {
    "if": {"properties": {"no_fix": {"const": True}}, "required": ["no_fix"]},
    "else": {"required": ["lat", "lng"]},
    "dependentRequired": {"lat": ["lng"], "lng": ["lat"]},
}

PAGE_QUERY = {
    "page": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
}


def obj(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    """An object schema that refuses unknown fields."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


# What every photo ticket asks: the file, then (for evidence) where and when it was taken.
PHOTO_FILE = {
    "client_id": CLIENT_ID,
    "sent_at": SENT_AT,
    "content_type": {"type": "string", "minLength": 1, "maxLength": 64},
    "size": {"type": "integer", "minimum": 1},
}
PHOTO_CAPTURE = {
    "taken_at": TIMESTAMP,
    "lat": LAT,
    "lng": LNG,
    "coord_type": COORD_TYPE,
    "no_fix": NO_FIX,
}


def photo_ticket(*, capture: bool, required: tuple[str, ...] = ("client_id", "content_type", "size"), **extra) -> dict:
    """The body of a photo ticket: the file alone (a villager's photo) or with its capture (evidence)."""
    return obj({**PHOTO_FILE, **(PHOTO_CAPTURE if capture else {}), "compressed": COMPRESSED}, required, **extra)


def page_of(item: dict | None = None) -> dict:
    """The response schema of a paginated list."""
    return obj(
        {
            "items": {"type": "array", "items": item or {"type": "object"}},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        }
    )
