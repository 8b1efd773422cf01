"""`tapster --interface ...` as users run it: a real process, a real socket, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tapster import Config
from tapster.cli import _parser, config_from_args

FLASK_APP = """
import flask

app = flask.Flask(__name__)

@app.post("/upload")
def upload():
    return {"size": len(flask.request.get_data()), "protocol": flask.request.environ["SERVER_PROTOCOL"]}

@app.get("/")
def index():
    return "flask on tapster"
"""

PLAIN_WSGI = """
def app(environ, start_response, extra=None):  # three positional parameters: auto would say ASGI 3
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["wsgi.url_scheme"].encode(), b" ", environ["PATH_INFO"].encode()]

async def asgi(scope, receive, send):
    pass
"""

ASGI2_APP = """
class App:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2 " + self.scope["path"].encode()})
"""


@contextmanager
def tapster(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """Start `python -m tapster ARGS` in tmp_path; yield the process, its URL and its log so far."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapster", *args, "--bind", "127.0.0.1:0"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        log: list[str] = []
        while "Tapster serving on" not in (line := proc.stderr.readline()):
            assert line, "".join(log)
            log.append(line)
        yield proc, line.split("serving on ", 1)[1].strip(), log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_a_flask_app_is_detected_and_finishes_its_request_on_sigterm(tmp_path: Path, loop: str) -> None:
    (tmp_path / "main.py").write_text(FLASK_APP)
    with tapster(tmp_path, "main:app", "--loop", loop) as (proc, url, log):
        assert "Serving <Flask 'main'> as WSGI" in "".join(log)
        assert httpx.get(url).text == "flask on tapster"
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            # A request in flight: the view is reading the body (tapster sends 100 Continue when
            # the app first asks for it) ...
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\nexpect: 100-continue\r\n\r\n"
            )
            assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
            # ... when SIGTERM comes; the body follows, and the answer still comes.
            proc.send_signal(signal.SIGTERM)
            sock.sendall(b"1234567890")
            response = b""
            while data := sock.recv(65536):
                response += data
        assert response.startswith(b"HTTP/1.1 200 ")
        assert response.endswith(b'{"protocol":"HTTP/1.1","size":10}\n')
        assert proc.wait(timeout=15) == 0


def test_interface_wsgi_forces_the_adapter(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(PLAIN_WSGI)
    with tapster(tmp_path, "main:app", "--interface", "wsgi", "--wsgi-threads", "2", "--loop", "trio") as (
        proc,
        url,
        _,
    ):
        assert httpx.get(f"{url}/some/path").text == "http /some/path"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_interface_wsgi_on_an_async_app_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(PLAIN_WSGI)
    result = subprocess.run(
        [sys.executable, "-m", "tapster", "main:asgi", "--interface", "wsgi"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("tapster: error: <function asgi at ")
    assert result.stderr.strip().endswith(
        "is an async callable (ASGI), not a WSGI app: drop --interface wsgi"
    )


@pytest.mark.parametrize("flags", [[], ["--interface", "asgi2"]])
def test_an_asgi2_app(tmp_path: Path, flags: list[str]) -> None:
    (tmp_path / "main.py").write_text(ASGI2_APP)
    with tapster(tmp_path, "main:App", "--lifespan", "off", *flags) as (proc, url, _):
        assert httpx.get(f"{url}/x").text == "asgi2 /x"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_interface_flags_map_onto_config() -> None:
    config = config_from_args(_parser().parse_args(["m:a", "--interface", "wsgi", "--wsgi-threads", "4"]))
    assert (config.interface, config.wsgi_threads) == ("wsgi", 4)
    assert config_from_args(_parser().parse_args(["m:a"])) == Config()


def test_interface_settings_from_the_environment_and_a_config_file(tmp_path: Path) -> None:
    file = tmp_path / "tapster.toml"
    file.write_text('[server]\ninterface = "wsgi"\nwsgi_threads = 3\n')
    config = config_from_args(_parser().parse_args(["m:a"]), environ={"TAPSTER_CONFIG": str(file)})
    assert (config.interface, config.wsgi_threads) == ("wsgi", 3)
    environ = {"TAPSTER_CONFIG": str(file), "TAPSTER_INTERFACE": "asgi2", "TAPSTER_WSGI_THREADS": "7"}
    config = config_from_args(_parser().parse_args(["m:a"]), environ=environ)
    assert (config.interface, config.wsgi_threads) == ("asgi2", 7)


def test_bad_wsgi_threads_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(PLAIN_WSGI)
    result = subprocess.run(
        [sys.executable, "-m", "tapster", "main:app", "--wsgi-threads", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tapster: error: wsgi_threads must be a positive integer; got 0 (set by --wsgi-threads)"
    )


def test_without_anyio_a_wsgi_app_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(PLAIN_WSGI)
    # A None in sys.modules makes `import anyio` fail as it does where anyio is not installed.
    code = "import sys; sys.modules['anyio'] = None; from tapster.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "main:app", "--interface", "wsgi"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "tapster: error: serving a WSGI app needs anyio: pip install 'tapster[wsgi]'"
    )
