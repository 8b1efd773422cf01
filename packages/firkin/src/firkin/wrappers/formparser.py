"""A multipart/form-data body read as it arrives, into fields and uploaded files.

werkzeug's `FormDataParser` reads from a blocking stream, so firkin used to read the whole body into
memory first and hand it over as a BytesIO: an upload cost its size in memory twice over, and a body
without MAX_CONTENT_LENGTH was unbounded. Here werkzeug's sans-I/O `MultipartDecoder` is fed each
chunk the server delivers: a field's bytes are kept (bounded by MAX_FORM_MEMORY_SIZE), a file's go
to a spooled temporary file (in memory up to 500 KiB, werkzeug's choice, then on disk, written from a
worker thread so the event loop never waits on the disk). What comes out is what werkzeug's
`MultiPartParser` gives: the same MultiDict of str fields and of FileStorage files, the same 413s for
too many parts or too large a field, and a malformed body read as an empty form (werkzeug's `silent`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from tempfile import SpooledTemporaryFile
from typing import IO, Any

import anyio.to_thread
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, NeedData

from firkin._fastpaths.multipart import Decoder

__all__ = ["SPOOL_MAX_SIZE", "parse_multipart"]

#: Bytes of one uploaded file kept in memory before it moves to a temporary file on disk
#: (werkzeug's default_stream_factory: 500 KiB).
SPOOL_MAX_SIZE = 500 * 1024

# A part's charset is taken from its Content-Type only when it is one of these (werkzeug's list).
_CHARSETS = frozenset(("ascii", "us-ascii", "utf-8", "iso-8859-1"))


def _charset(headers: Headers) -> str:
    content_type = headers.get("content-type")
    if content_type:
        charset = parse_options_header(content_type)[1].get("charset", "").lower()
        if charset in _CHARSETS:
            return charset
    return "utf-8"


class _Upload:
    """One file part being received: in memory up to SPOOL_MAX_SIZE, then written from a thread."""

    __slots__ = ("file", "size")

    def __init__(self) -> None:
        self.file: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE, mode="rb+")  # noqa: SIM115 - a FileStorage's stream, closed with the request
        self.size = 0

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= SPOOL_MAX_SIZE:
            self.file.write(data)  # still in memory: no disk to wait for
        else:
            await anyio.to_thread.run_sync(self.file.write, data)


async def parse_multipart(
    chunks: AsyncIterator[bytes],
    boundary: bytes,
    *,
    max_form_memory_size: int | None,
    max_form_parts: int | None,
    cls: Callable[[list[tuple[str, Any]]], MultiDict[str, Any]],
) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """The fields and files of a multipart body whose chunks `chunks` gives (raises
    RequestEntityTooLarge past a limit, ValueError for a malformed body)."""
    decoder = Decoder(boundary, max_form_memory_size=max_form_memory_size, max_parts=max_form_parts)
    form = _Form(max_form_memory_size)
    try:
        more = True
        while more:
            chunk = await anext(chunks, None)
            more = chunk is not None
            decoder.receive_data(chunk)
            event = decoder.next_event()
            while not isinstance(event, Epilogue | NeedData):
                await form.take(event)
                event = decoder.next_event()
    except BaseException:
        form.close()
        raise
    return cls(form.fields), cls(form.files)


class _Form:
    """The parts received so far, and the one being received."""

    def __init__(self, max_form_memory_size: int | None) -> None:
        self.max_form_memory_size = max_form_memory_size
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.part: Field | File | None = None
        self.field: list[bytes] = []
        self.field_size = 0
        self.upload: _Upload | None = None

    async def take(self, event: Any) -> None:
        if isinstance(event, File):
            self.part, self.upload = event, _Upload()
        elif isinstance(event, Field):
            self.part, self.upload, self.field, self.field_size = event, None, [], 0
        elif isinstance(event, Data):
            if self.upload is not None:
                await self.upload.write(event.data)
            else:
                self.field_size += len(event.data)
                limit = self.max_form_memory_size
                if limit is not None and self.field_size > limit:
                    raise RequestEntityTooLarge()
                self.field.append(event.data)
            if not event.more_data:
                self._end_part()

    def _end_part(self) -> None:
        part, upload = self.part, self.upload
        assert part is not None
        if isinstance(part, File):
            assert upload is not None
            upload.file.seek(0)
            self.files.append(
                (part.name, FileStorage(upload.file, part.filename, part.name, headers=part.headers))
            )
        else:
            text = b"".join(self.field).decode(_charset(part.headers), "replace")
            self.fields.append((part.name, text))
        self.part = self.upload = None

    def close(self) -> None:
        """Let go of the files of a form that will not be used (an error while reading it)."""
        if self.upload is not None:
            self.upload.file.close()
        for _, storage in self.files:
            storage.close()
