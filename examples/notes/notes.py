"""What the pages and the API share: a note as JSON, the page number from the query string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from firkin import abort, url_for

from .database import Note

__all__ = ["MAX_PAGE", "note_json", "page_number", "positive_int"]


def note_json(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "title": note.title,
        "body": note.body,
        "created": note.created_at.isoformat(),
        "updated": note.updated_at.isoformat(),
        "url": url_for("api.note", note_id=note.id),
    }


#: The highest page number asked for that is taken seriously (the database's offsets have limits).
MAX_PAGE = 1_000_000


def positive_int(args: Mapping[str, str], name: str, default: int, most: int) -> int:
    """`?name=` as an integer from 1 to `most`; `default` when absent; a 400 saying so otherwise."""
    raw = args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(most)) and 1 <= int(raw) <= most):
        abort(400, description=f"?{name}= is a whole number from 1 to {most}; got {raw[:20]!r}.")
    return int(raw)


def page_number(args: Mapping[str, str]) -> int:
    return positive_int(args, "page", 1, MAX_PAGE)
