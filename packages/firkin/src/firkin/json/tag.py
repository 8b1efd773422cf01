"""Tagged JSON (Flask's), at Quart's module path: how the session serialises values JSON has no type
for (bytes, datetimes, tuples, UUIDs, Markup). Register a `JSONTag` subclass on
`app.session_interface.serializer` to add one."""

from flask.json.tag import (
    JSONTag,
    PassDict,
    PassList,
    TagBytes,
    TagDateTime,
    TagDict,
    TaggedJSONSerializer,
    TagMarkup,
    TagTuple,
    TagUUID,
)

__all__ = [
    "JSONTag",
    "PassDict",
    "PassList",
    "TagBytes",
    "TagDateTime",
    "TagDict",
    "TagMarkup",
    "TagTuple",
    "TagUUID",
    "TaggedJSONSerializer",
]
