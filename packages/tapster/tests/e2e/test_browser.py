"""A real browser talks HTTP/2 to tapster: Debian's headless Chromium, driven by Selenium, loads a page
over TLS (ALPN h2), fetches from it and opens a WebSocket, which Chromium carries over the same HTTP/2
connection (RFC 8441 extended CONNECT); the server records what it saw."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from tapster.asgi._types import Receive, Scope, Send

from conftest import ServeFactory, headless_chromium

PAGE = b"""<!doctype html>
<html><head><title>tapster h2</title></head>
<body>
<p id="status">loading</p>
<script>
(async () => {
  const answer = await (await fetch("/api", {method: "POST", body: "from the page"})).text();
  const ws = new WebSocket("wss://" + location.host + "/ws");
  ws.onopen = () => ws.send("ping");
  ws.onmessage = (event) => {
    document.getElementById("status").textContent = answer + " | " + event.data;
    ws.close();
  };
  ws.onerror = () => { document.getElementById("status").textContent = "websocket failed"; };
})();
</script>
</body></html>
"""


class Site:
    """Serves the page, an API and a WebSocket echo; records each scope's type and HTTP version."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        with self.lock:
            self.seen.append((scope["type"], scope["path"], scope["http_version"]))
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            message = await receive()
            if message["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": f"pong over HTTP/{scope['http_version']}"})
                await receive()
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/api":
            text = f"{body.decode()} over HTTP/{scope['http_version']}".encode()
            headers: list[tuple[bytes, bytes]] = [(b"content-type", b"text/plain")]
        elif scope["path"] == "/":
            text, headers = PAGE, [(b"content-type", b"text/html; charset=utf-8")]
        else:
            text, headers = b"not found", []
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": text})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": text})


def _certificate(folder: Path) -> tuple[str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    return str(certfile), str(keyfile)


@pytest.mark.parametrize("loop_name", ["asyncio", "trio"])
def test_chromium_loads_a_page_over_http2(serve: ServeFactory, tmp_path: Path) -> None:
    site = Site()
    certfile, keyfile = _certificate(tmp_path)
    running = serve(site, certfile=certfile, keyfile=keyfile)
    # The throwaway certificate of this test.
    driver = headless_chromium(tmp_path / "profile", "--ignore-certificate-errors")
    try:
        driver.set_page_load_timeout(20)
        driver.get(f"{running.url}/")
        status = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = driver.find_element("id", "status").text
            if status not in ("", "loading"):
                break
            time.sleep(0.05)
        protocol: Any = driver.execute_script(
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol"
        )
    finally:
        driver.quit()
    assert protocol == "h2", protocol  # the browser's own account
    assert status == "from the page over HTTP/2 | pong over HTTP/2", status
    with site.lock:
        seen = list(site.seen)
    assert ("http", "/", "2") in seen  # and the server's
    assert ("http", "/api", "2") in seen
    assert ("websocket", "/ws", "2") in seen, json.dumps(seen)  # RFC 8441: the WebSocket over HTTP/2 too
