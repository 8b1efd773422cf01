"""The views of the test Django project, and their URLs."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

MiB = 1024 * 1024

#: Set by the streaming view's generator when it is closed (the client left).
stream_closed = threading.Event()


def index(request: Any) -> HttpResponse:
    return HttpResponse("hello " + request.GET.get("name", "django"), content_type="text/plain")


def echo_json(request: Any) -> JsonResponse:
    return JsonResponse(json.loads(request.body))


def upload(request: Any) -> JsonResponse:
    # HttpRequest is a file: read it in pieces, as a view storing a large upload does.
    digest, size = hashlib.sha256(), 0
    while piece := request.read(64 * 1024):
        digest.update(piece)
        size += len(piece)
    return JsonResponse({"size": size, "sha256": digest.hexdigest()})


def form(request: Any) -> JsonResponse:
    upload = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return JsonResponse({"field": request.POST["field"], "name": upload.name, "sha256": digest.hexdigest()})


def session(request: Any) -> JsonResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse({"visits": request.session["visits"]})


def meta(request: Any) -> JsonResponse:
    keys = ("SCRIPT_NAME", "PATH_INFO", "SERVER_PROTOCOL", "REMOTE_ADDR")
    return JsonResponse({key: request.META.get(key) for key in keys} | {"uri": request.build_absolute_uri()})


def stream(request: Any) -> StreamingHttpResponse:
    size = int(request.GET["mib"]) * MiB

    def generate() -> Iterator[bytes]:
        try:
            chunk = b"s" * (256 * 1024)
            for _ in range(size // len(chunk)):
                yield chunk
        finally:
            stream_closed.set()

    return StreamingHttpResponse(generate(), content_type="application/octet-stream")


def source(request: Any) -> FileResponse:
    return FileResponse(open(__file__, "rb"), content_type="text/x-python")


def fail(request: Any) -> HttpResponse:
    raise RuntimeError("the Django view failed")


# (csrf_exempt applied here rather than as a decorator: Django ships no types, and mypy --strict
# refuses untyped decorators.)
urlpatterns = [
    path("", index),
    path("json", csrf_exempt(echo_json)),
    path("upload", csrf_exempt(upload)),
    path("form", csrf_exempt(form)),
    path("session", session),
    path("meta", meta),
    path("stream", stream),
    path("source", source),
    path("fail", fail),
]
