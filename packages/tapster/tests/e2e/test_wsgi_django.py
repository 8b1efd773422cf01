"""A Django project served by tapster as a WSGI app, end to end over real sockets (httpx, a raw
socket), on every backend, over HTTP/1.1 and HTTP/2."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import ServeFactory

from .django_site import settings as site_settings
from .django_site import urls as site_urls

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def django_app() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            **{name: getattr(site_settings, name) for name in dir(site_settings) if name.isupper()}
        )
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


class Finished:
    """Counts Django's request_finished signal, which Django sends from the response's close()
    (in the request's thread, just after the last byte went out)."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self, **kwargs: Any) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_for(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count >= count, timeout=10)


@pytest.fixture
def finished() -> Iterator[Finished]:
    from django.core.signals import request_finished

    counter = Finished()
    request_finished.connect(counter, dispatch_uid="tapster-test")
    yield counter
    request_finished.disconnect(dispatch_uid="tapster-test")


def test_django_app(serve: ServeFactory, django_app: Any, finished: Finished) -> None:
    running = serve(django_app)
    with httpx.Client(base_url=running.url, timeout=30) as client:
        response = client.get("/", params={"name": "tapster"})
        assert (response.status_code, response.text) == (200, "hello tapster")
        assert client.post("/json", json={"a": [1, 2]}).json() == {"a": [1, 2]}
        assert client.get("/session").json() == {"visits": 1}
        assert client.get("/session").json() == {"visits": 2}
        assert client.get("/missing").status_code == 404
        meta = client.get("/meta").json()
        assert meta == {
            "SCRIPT_NAME": "",
            "PATH_INFO": "/meta",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "uri": f"{running.url}/meta",
        }
        with open(site_urls.__file__, "rb") as source:
            assert client.get("/source").content == source.read()  # FileResponse: wsgi.file_wrapper
        # A multipart upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE: Django spools it to disk.
        data = bytes(range(256)) * 4096
        result = client.post("/form", data={"field": "v"}, files={"file": ("big.bin", data)}).json()
        assert result == {"field": "v", "name": "big.bin", "sha256": hashlib.sha256(data).hexdigest()}
        assert client.get("/fail").status_code == 500  # Django's own 500 (DEBUG off)
        assert client.get("/").status_code == 200
    # close() was called on every response: Django sends request_finished from it.
    assert finished.wait_for(10)
    assert finished.count == 10


def test_django_large_upload_and_streamed_response(serve: ServeFactory, django_app: Any) -> None:
    running = serve(django_app)
    body = hashlib.sha256(b"django").digest() * (16 * MiB // 32)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), MiB):
            yield body[i : i + MiB]

    with httpx.Client(base_url=running.url, timeout=30) as client:
        result = client.post("/upload", content=chunks(), headers={"content-length": str(len(body))}).json()
        assert result == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        with client.stream("GET", "/stream", params={"mib": 32}) as response:
            assert "content-length" not in response.headers
            assert sum(len(chunk) for chunk in response.iter_bytes()) == 32 * MiB


def test_django_client_gone_mid_stream_closes_the_response(serve: ServeFactory, django_app: Any) -> None:
    running = serve(django_app)
    site_urls.stream_closed.clear()
    sock = running.connect()
    sock.sendall(b"GET /stream?mib=1024 HTTP/1.1\r\nhost: localhost\r\n\r\n")
    received = 0
    while received < MiB:
        received += len(sock.recv(65536))
    sock.close()
    assert site_urls.stream_closed.wait(10)


def test_django_over_http2(serve: ServeFactory, django_app: Any) -> None:
    running = serve(django_app)
    with httpx.Client(base_url=running.url, http1=False, http2=True, timeout=30) as client:
        response = client.get("/meta")
        assert response.http_version == "HTTP/2"
        assert response.json()["SERVER_PROTOCOL"] == "HTTP/2"
        assert len(client.get("/stream", params={"mib": 4}).content) == 4 * MiB
        assert client.get("/fail").status_code == 500
        assert client.get("/").text == "hello django"  # the same connection goes on
