"""Multipart forms read as the body arrives (firkin.wrappers.formparser): the same fields and files
werkzeug's parser gives, its limits, and a body never held whole in memory."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest
from firkin import Firkin, request
from firkin.wrappers.formparser import SPOOL_MAX_SIZE, parse_multipart
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser

pytestmark = pytest.mark.anyio

BOUNDARY = b"----firkin-boundary-7MA4YWxk"


def body(*parts: tuple[str, str | None, bytes, str | None], boundary: bytes = BOUNDARY) -> bytes:
    """A multipart body: (name, filename or None, data, content type or None) per part."""
    out = b""
    for name, filename, data, content_type in parts:
        out += b"--" + boundary + b"\r\n"
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


CASES = {
    "one field": body(("a", None, b"1", None)),
    "fields and files": body(
        ("name", None, "Zoë".encode(), None),
        ("doc", "a.txt", b"line one\r\nline two\r\n", "text/plain"),
        ("doc", "b.bin", bytes(range(256)) * 40, "application/octet-stream"),
        ("empty", "e.txt", b"", "text/plain"),
    ),
    "latin-1 field": body(("x", None, "café".encode("latin-1"), "text/plain; charset=iso-8859-1")),
    "boundary-like data": body(("f", "f.txt", b"--" + BOUNDARY[:-1] + b"\r\n--" + BOUNDARY + b"x", None)),
    "line breaks before dashes": body(("f", "f.txt", b"a\r--b\n--c\r\n--d", None)),
    "big file": body(("big", "big.bin", b"z" * (SPOOL_MAX_SIZE + 12345), None)),
}


async def _chunks(data: bytes, size: int) -> AsyncGenerator[bytes, None]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def _ours(data: bytes, size: int, **limits: Any) -> tuple[list[Any], list[Any]]:
    async with aclosing(_chunks(data, size)) as chunks:
        form, files = await parse_multipart(
            chunks,
            BOUNDARY,
            max_form_memory_size=limits.get("max_form_memory_size", 500_000),
            max_form_parts=limits.get("max_form_parts", 1000),
            cls=MultiDict,
        )
    return list(form.items(multi=True)), _read(files)


def _read(files: MultiDict[str, Any]) -> list[Any]:
    out = []
    for name, storage in files.items(multi=True):
        out.append((name, storage.filename, storage.content_type, storage.read()))
        storage.close()
    return out


def _werkzeugs(data: bytes) -> tuple[list[Any], list[Any]]:
    form, files = MultiPartParser(max_form_memory_size=500_000, max_form_parts=1000).parse(
        io.BytesIO(data), BOUNDARY, len(data)
    )
    return list(form.items(multi=True)), _read(files)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("size", [1, 7, 1024, 65536])
async def test_the_same_form_as_werkzeugs_parser(case: str, size: int) -> None:
    data = CASES[case]
    if size == 1 and len(data) > 100_000:
        size = 997  # byte by byte through half a MiB is slow, and proves no more than 997
    assert await _ours(data, size) == _werkzeugs(data)


async def test_names_and_filenames_are_each_parts_own() -> None:
    """A part's Content-Disposition is parsed once per distinct value and remembered (bounded):
    each form still gets its own names and filenames, past the bound as before it."""
    for n in range(300):
        data = body(
            (f"field{n}", None, b"v", None),
            (f"file{n % 7}", f"{n}.txt", b"x" * n, "text/plain"),
            ("same", "same.txt", b"s", None),
        )
        assert await _ours(data, 1024) == _werkzeugs(data)


async def test_limits_are_werkzeugs() -> None:
    many = body(*((f"f{i}", None, b"v", None) for i in range(5)))
    with pytest.raises(RequestEntityTooLarge):
        await _ours(many, 64, max_form_parts=4)
    assert len((await _ours(many, 64, max_form_parts=5))[0]) == 5
    big_field = body(("f", None, b"x" * 2000, None))
    with pytest.raises(RequestEntityTooLarge):
        await _ours(big_field, 100, max_form_memory_size=1000)
    with pytest.raises(ValueError, match="Invalid form-data"):
        await _ours(CASES["one field"][:-20], 64)


async def test_through_the_app_with_limits_and_a_malformed_body() -> None:
    app = Firkin(__name__)
    app.config["MAX_FORM_PARTS"] = 3

    @app.post("/")
    async def view() -> dict[str, Any]:
        form, files = await request.form, await request.files
        return {
            "form": sorted(form.items(multi=True)),
            "files": [(k, v.filename, len(v.read())) for k, v in files.items(multi=True)],
            "data": (await request.get_data()).decode(),
        }

    client = app.test_client()
    content_type = f"multipart/form-data; boundary={BOUNDARY.decode()}"
    data = body(("a", None, b"1", None), ("up", "u.txt", b"hello", "text/plain"))
    response = await client.post("/", data=data, headers={"Content-Type": content_type})
    # get_data() after the form: b"", as werkzeug says (the body went into the form).
    assert await response.get_json() == {"form": [["a", "1"]], "files": [["up", "u.txt", 5]], "data": ""}
    four = body(*((f"f{i}", None, b"v", None) for i in range(4)))
    assert (await client.post("/", data=four, headers={"Content-Type": content_type})).status_code == 413
    broken = {"Content-Type": "multipart/form-data"}  # no boundary: an empty form, as in werkzeug
    assert await (await client.post("/", data=data, headers=broken)).get_json() == {
        "form": [],
        "files": [],
        "data": "",
    }


async def test_a_large_upload_is_never_held_in_memory(tmp_path: Any) -> None:
    # 24 MiB through the app in 64 KiB chunks, the way a server delivers it: the file goes to disk
    # past 500 KiB, and what Python holds at once stays far below the upload's size.
    size = 24 * 1024 * 1024
    app = Firkin(__name__)
    seen: dict[str, Any] = {}

    @app.post("/")
    async def view() -> str:
        upload = (await request.files)["big"]
        stream = upload.stream
        seen["on disk"] = getattr(stream, "_rolled", None)
        total = 0
        while chunk := upload.read(1 << 20):
            total += len(chunk)
        seen["size"] = total
        return "ok"

    head = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="big"; filename="big.bin"\r\n\r\n'
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    piece = b"q" * 65536

    async def receive_body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(size // len(piece)):
            yield piece
        yield tail

    chunks = receive_body()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY),
        ],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        chunk = await anext(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    tracemalloc.start()
    try:
        await app(scope, receive, send)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert statuses == [200]
    assert seen == {"on disk": True, "size": size}
    assert peak < 4 * 1024 * 1024, f"{peak} bytes held at once for a {size}-byte upload"
