"""The websocket echo on Starlette, for bench/websocket.py: ``uvicorn bench.fw_apps.starlette_ws:app``.

Starlette's documented shape: a websocket route that accepts, then ``receive_text`` / ``send_text``
until ``WebSocketDisconnect``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[WebSocketRoute("/echo", echo)])
