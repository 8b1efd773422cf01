"""Server-side checks for what users send, shared by the HTML forms and the JSON API."""

from __future__ import annotations

import re

__all__ = ["MAX_BODY", "MAX_TITLE", "validate_note", "validate_username"]

MAX_TITLE = 100  # characters
MAX_BODY = 2_000  # characters
_USERNAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def validate_note(title: str, body: str) -> list[str]:
    """The problems with a note, as messages for the user; empty when it is fine."""
    errors: list[str] = []
    if not title.strip():
        errors.append("A note needs a title.")
    elif len(title) > MAX_TITLE:
        errors.append(f"The title is longer than {MAX_TITLE} characters.")
    if len(body) > MAX_BODY:
        errors.append(f"The text is longer than {MAX_BODY} characters.")
    return errors


def validate_username(name: str) -> str | None:
    """Why `name` cannot be a user name, or None when it can."""
    if _USERNAME.fullmatch(name) is None:
        return "A user name is 1 to 32 letters, digits, '_' or '-'."
    return None
