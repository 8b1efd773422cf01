"""A raw ASGI 3 app (no framework), with lifespan, for tapster alone:
`tapster app:app --app-dir examples/hello`. (`./dev serve` serves the notes example, a firkin app.)"""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]

PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tapster</title></head>
<body><h1>Hello from tapster</h1>
<p>This page is served by a raw ASGI app. Try <a href="/json">/json</a>, or POST a body to /echo.</p>
</body></html>
"""


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started"] = True
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/":
        status, ctype, body = 200, b"text/html; charset=utf-8", PAGE
    elif path == "/json":
        payload = {"server": "tapster", "http_version": scope["http_version"], "path": path}
        status, ctype, body = 200, b"application/json", json.dumps(payload).encode()
    elif path == "/echo" and scope["method"] == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        status, ctype, body = 200, b"application/octet-stream", b"".join(chunks)
    else:
        status, ctype, body = 404, b"text/plain; charset=utf-8", b"Not Found\n"
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})
    await send({"type": "http.response.body", "body": body})
