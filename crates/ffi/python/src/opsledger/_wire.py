"""Values the Python side accepts in place of their JSON form: actors and instants."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Union

Actor = Union[str, Mapping[str, Any]]
"""An acting identity: ``{"id": "alice", "roles": ["agent"]}``, or just an id (no roles)."""

Instant = Union[str, datetime]
"""An instant: an RFC 3339 string, or a timezone-aware datetime."""


def instant(value: Optional[Instant]) -> Optional[str]:
    """The RFC 3339 text of an instant (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return value.isoformat()


def actor(value: Optional[Actor]) -> Optional[Dict[str, Any]]:
    """The JSON form of an acting identity (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"id": value, "roles": []}
    return {"id": value["id"], "roles": list(value.get("roles", []))}
