"""A small notes app on firkin: what a Flask developer writes, with `await` where I/O happens.

`create_app()` is in `examples.notes.app`; run it with `firkin --app examples.notes.app:app run`.
"""

from __future__ import annotations

__all__: list[str] = []
