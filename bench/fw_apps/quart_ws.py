"""The websocket echo on Quart, for bench/websocket.py: ``hypercorn bench.fw_apps.quart_ws:app``.

Quart's documented echo; the client leaving cancels the handler.
"""

from __future__ import annotations

from quart import Quart, websocket

app = Quart(__name__)


@app.websocket("/echo")
async def echo() -> None:
    while True:
        message = await websocket.receive()
        await websocket.send(message)
