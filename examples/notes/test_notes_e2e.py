"""The notes example over real sockets: tapster serving it in this process on each loop (asyncio,
uvloop, trio), then `firkin run` serving it as `./dev serve` does, in a process of its own that is
stopped with SIGTERM and started again on the same database. The clients are httpx (pages, forms,
the API) and the `websockets` library (the live feed), with the cookies a browser would keep."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.typing import Origin

from conftest import Process, ServeFactory
from examples.notes.app import create_app
from examples.notes.conftest import TEST_CONFIG, http_member, session_over, token_in


def test_a_whole_session_over_tapster(serve: ServeFactory, tmp_path: Path) -> None:
    running = serve(create_app(TEST_CONFIG, instance_path=tmp_path / "instance"))
    session_over(running.url, "alice")
    with httpx.Client(base_url=running.url) as http:
        assert http.get("/health").json() == {"status": "ok", "database": "sqlite"}
        assert http.get("/").headers["location"] == "/login?next=%2F"


def test_the_live_feed_refuses_pages_of_other_sites(serve: ServeFactory, tmp_path: Path) -> None:
    running = serve(create_app(TEST_CONFIG, instance_path=tmp_path / "instance"))
    with httpx.Client(base_url=running.url) as http:
        http_member(http, "alice")
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())

    async def handshake(origin: str) -> int:
        from websockets.exceptions import InvalidStatus

        try:
            feed = await connect(
                running.url.replace("http://", "ws://") + "/api/live",
                origin=Origin(origin),
                additional_headers=Headers(Cookie=cookie),
            )
        except InvalidStatus as refused:
            return refused.response.status_code
        await feed.close()
        return 101

    assert asyncio.run(handshake("https://evil.example")) == 403
    assert asyncio.run(handshake(running.url)) == 101


def serve_notes(env: dict[str, str]) -> tuple[Process, str]:
    """`firkin run` of examples.notes.app:app (what ./dev serve runs) on a free port."""
    args = [sys.executable, "-m", "firkin", "--app", "examples.notes.app:app", "run", "--port", "0"]
    process = Process(args, ready=r"Running on (http://127\.0\.0\.1:\d+)", env=env)
    return process, process.ready.group(1)


def test_firkin_run_serves_it_and_the_notes_outlive_the_process(tmp_path: Path) -> None:
    database = tmp_path / "notes.sqlite"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "FIRKIN_SECRET_KEY": '"a secret for this test"',  # values are parsed as JSON
    }
    process, url = serve_notes(env)
    try:
        session_over(url, "alice")
    finally:
        status = process.stop()
    assert status == 0, process.output()
    assert "Traceback" not in process.output(), process.output()
    assert database.is_file()
    assert '"POST /api/notes HTTP/1.1" 201' in process.output()  # the access log

    again, url = serve_notes(env)
    try:
        with httpx.Client(base_url=url) as http:
            token = token_in(http.get("/login").text)
            logged_in = http.post(
                "/login", data={"csrf_token": token, "username": "alice", "password": "correct horse"}
            )
            assert logged_in.status_code == 302
            assert [note["title"] for note in http.get("/api/notes").json()["notes"]] == ["changed"]
    finally:
        assert again.stop() == 0, again.output()
