"""Timestamps as phones send them: RFC 3339 with an explicit offset."""

from __future__ import annotations

from datetime import datetime


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 timestamp that carries its offset; raise ValueError otherwise."""
    text = value.strip()
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError("not an RFC 3339 timestamp")
    parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp without offset")
    return parsed
