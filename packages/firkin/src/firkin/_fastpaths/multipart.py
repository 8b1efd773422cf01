"""werkzeug's sans-I/O multipart decoder, fed as a body arrives, with two of its internals replaced.

1. Finding a boundary with `bytes.find`, not a regular expression tried at every byte, and once.

werkzeug's sans-I/O `MultipartDecoder` finds the end of a part's data with `boundary_re.search(data)`,
a pattern that starts with an optional line break: `re` tries it at every byte of the part, about
4 µs a KiB (16 µs for a 4 KiB file, 4 ms for a MiB). The boundary is always `--` and the boundary
string after a line break, so `find` locates each candidate in C and the same pattern is only
matched there. The decoder keeps the pattern in its `boundary_re` attribute and calls only its
`search(data)`; `fast_boundary_search` puts an object with that method in its place. Its answers are
compared with the pattern's in tests/test_werkzeug_internals.py. werkzeug also looks for `--boundary`
in the whole buffer before it searches: `Decoder._parse_data` searches once.

3. A part's Content-Disposition parsed once per distinct value (`Decoder.next_event` reads a part's
headers as werkzeug's does, but for that): werkzeug's parse_options_header is the largest cost of a
small upload.

2. Holding back the bytes that may be the start of a boundary. Between two chunks the decoder keeps
the end of a part's data that could begin a boundary (`_last_partial_boundary_index`). werkzeug's
version lets the line break go once a whole `--boundary` has arrived but what follows it has not
(`\r\n--B` then `-`): fed in small chunks, a field's value then ends with a stray `\r` (werkzeug
itself reads 64 KiB at a time and rarely splits there; a server's chunks can split anywhere). Here a
line break is kept while what follows it can still become a boundary line. tests/test_multipart.py
feeds bodies in chunks of every size and compares with werkzeug's parse of the whole body.
"""

from __future__ import annotations

import functools
import re
from typing import cast

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    BLANK_LINE_RE,
    LINE_BREAK_RE,
    NEED_DATA,
    SEARCH_EXTRA_LENGTH,
    Event,
    Field,
    File,
    MultipartDecoder,
    State,
)

__all__ = ["Decoder", "fast_boundary_search"]

_CR, _LF = 13, 10
# What may follow `--boundary` before the boundary pattern can tell (`--`, spaces, a line break): the
# bytes after a line break that are still waited for. Longer runs of spaces are not a boundary line
# any browser writes; their bytes go out as data once this many have arrived.
_SUFFIX_SLACK = 16


class _BoundarySearch:
    """`search(data)` as `pattern.search(data)` gives it, for werkzeug's boundary pattern (a line
    break, `--`, the boundary, then what may follow it)."""

    __slots__ = ("_needle", "_pattern")

    def __init__(self, pattern: re.Pattern[bytes], boundary: bytes) -> None:
        self._pattern = pattern
        self._needle = b"--" + boundary

    def search(self, data: bytes | bytearray) -> re.Match[bytes] | None:
        needle = self._needle
        at = data.find(needle)
        while at != -1:
            # The line break the pattern wants right before: \r\n, \n or \r (the leftmost start).
            if at >= 2 and data[at - 2] == _CR and data[at - 1] == _LF:
                match = self._pattern.match(data, at - 2)
            elif at >= 1 and data[at - 1] in (_CR, _LF):
                match = self._pattern.match(data, at - 1)
            else:
                match = None
            if match is not None:
                return match
            at = data.find(needle, at + 1)
        return None


def fast_boundary_search(decoder: MultipartDecoder) -> MultipartDecoder:
    """`decoder`, its boundary found with `find` (see the module's docstring)."""
    pattern = decoder.boundary_re
    if isinstance(pattern, re.Pattern):
        decoder.boundary_re = _BoundarySearch(pattern, decoder.boundary)  # type: ignore[assignment]
    return decoder


@functools.lru_cache(maxsize=256)  # bounded: clients choose the values
def _disposition(value: str) -> tuple[str, str | None]:
    """The name and the filename (None for a field) a part's Content-Disposition gives."""
    _, options = parse_options_header(value)
    return cast(str, options.get("name")), options.get("filename")


class Decoder(MultipartDecoder):
    """werkzeug's MultipartDecoder, its boundary found with `find` and partial boundaries kept
    whole (see the module's docstring)."""

    def __init__(self, boundary: bytes, *args: object, **kwargs: object) -> None:
        super().__init__(boundary, *args, **kwargs)  # type: ignore[arg-type]
        fast_boundary_search(self)
        self._delimiter = b"--" + boundary

    def next_event(self) -> Event:
        """werkzeug's; a part's headers are read here, with its Content-Disposition parsed once per
        distinct value (werkzeug's parse_options_header is a regular-expression walk in Python, the
        largest cost of a small upload)."""
        if self.state != State.PART:
            return super().next_event()
        match = BLANK_LINE_RE.search(self.buffer, self._search_position)
        if match is None:
            if self.complete:
                raise ValueError(f"Invalid form-data cannot parse beyond {self.state}")
            # What was searched, but for the end that may be the start of the blank line.
            self._search_position = max(0, len(self.buffer) - SEARCH_EXTRA_LENGTH)
            return NEED_DATA
        headers = self._parse_headers(self.buffer[: match.start()])
        # The last header ends with one line break; the data starts after the blank line.
        del self.buffer[: (match.start() + match.end()) // 2]
        if "content-disposition" not in headers:
            raise ValueError("Missing Content-Disposition header")
        name, filename = _disposition(headers["content-disposition"])
        event: Event = (
            Field(headers=headers, name=name)
            if filename is None
            else File(filename=filename, headers=headers, name=name)
        )
        self.state = State.DATA_START
        self._search_position = 0
        self._parts_decoded += 1
        if self.max_parts is not None and self._parts_decoded > self.max_parts:
            raise RequestEntityTooLarge()
        return event

    def _parse_data(self, data: bytes | bytearray, *, start: bool) -> tuple[bytes, int, bool]:
        """werkzeug's, with one search for the boundary where werkzeug makes two (a `find` of
        `--boundary` in the buffer, then the pattern's search of the same bytes): the search finds
        no match exactly when no complete boundary line is there."""
        data_start = 0
        if start:  # a part's data starts after the line break that ends its headers
            match = LINE_BREAK_RE.match(data)
            assert match is not None  # (the headers' parse left it there)
            data_start = match.end()
        found = self.boundary_re.search(data)
        if found is None:
            data_end = del_index = self._last_partial_boundary_index(data[data_start:]) + data_start
        else:
            self.state = State.EPILOGUE if found.group(1).startswith(b"--") else State.PART
            data_end, del_index = found.start(), found.end()
        return bytes(data[data_start:data_end]), del_index, found is None

    def _last_partial_boundary_index(self, data: bytes | bytearray) -> int:
        """The first index from which `data` may still be the start of a boundary line: a line
        break followed by a prefix of `--boundary`, or by all of it and what may follow it."""
        delimiter = self._delimiter
        end = len(data)
        at = max(0, end - len(delimiter) - 2 - _SUFFIX_SLACK)
        while at < end:
            cr, lf = data.find(b"\r", at), data.find(b"\n", at)
            if cr == -1 and lf == -1:
                return end
            at = lf if cr == -1 else cr if lf == -1 else min(cr, lf)
            rest = data[at + 2 :] if data[at : at + 2] == b"\r\n" else data[at + 1 :]
            if delimiter.startswith(rest) or rest.startswith(delimiter):
                return at
            at += 1
        return end
