"""The websocket echo on firkin, for bench/websocket.py: ``tapster bench.fw_apps.firkin_ws:app``.

Written as firkin's documentation (docs/firkin/websockets.md) writes it; the first ``receive()``
accepts the connection, and the client leaving ends the loop (firkin ends the handler cleanly).
"""

from __future__ import annotations

from firkin import Firkin, websocket

app = Firkin(__name__)


@app.websocket("/echo")
async def echo() -> None:
    while True:
        message = await websocket.receive()
        await websocket.send(message)
