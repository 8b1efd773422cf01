"""Data structures at Quart's module path: `FileStorage`, an uploaded file (werkzeug's, as in
`await request.files`). Pass one in `files=` to the test client to upload it."""

from werkzeug.datastructures import FileStorage

__all__ = ["FileStorage"]
