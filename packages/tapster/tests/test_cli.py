"""The command line: argument handling, one-line errors, and a real serve + SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tapster import Config, ConfigError
from tapster._importer import import_app
from tapster.cli import _parser, config_from_args

APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                open("shutdown.txt", "w").write("clean")
                await send({"type": "lifespan.shutdown.complete"})
                return
            await send({"type": "lifespan.startup.complete"})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"from the cli"})

def create_app():
    return app
"""


def run_cli(*args: str, cwd: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapster", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_missing_module_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("nosuchmodule:app", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tapster: error: cannot import 'nosuchmodule': no such module (searched '.' and sys.path)"
    ]


def test_missing_attribute_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    result = run_cli("main:nope", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "tapster: error: module 'main' has no attribute 'nope'"


def test_bad_app_spec(tmp_path: Path) -> None:
    result = run_cli("main", cwd=tmp_path)
    assert result.returncode == 2
    assert "must be given as 'module:attribute'" in result.stderr


def test_factory_flag(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    app = import_app("main:create_app", factory=True, app_dir=str(tmp_path))
    assert callable(app)
    with pytest.raises(ConfigError, match="pass --factory"):
        import_app("main:create_app", app_dir=str(tmp_path))


def test_flags_map_onto_config() -> None:
    args = _parser().parse_args(
        [
            "main:app",
            "--bind", "127.0.0.1:9000",
            "--bind", "unix:/tmp/t.sock",
            "--loop", "trio",
            "--root-path", "/api",
            "--access-log",
            "--no-server-header",
            "--max-head-size", "8192",
            "--max-headers", "50",
            "--head-timeout", "3.5",
            "--timeout-keep-alive", "2",
            "--timeout-graceful-shutdown", "7",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert config == Config(
        binds=("127.0.0.1:9000", "unix:/tmp/t.sock"),
        loop="trio",
        root_path="/api",
        access_log=True,
        server_header=False,
        max_head_size=8192,
        max_headers=50,
        head_timeout=3.5,
        keep_alive_timeout=2.0,
        shutdown_timeout=7.0,
    )


def test_websocket_flags_map_onto_config() -> None:
    args = _parser().parse_args(
        [
            "main:app",
            "--ws-max-message-size", "4096",
            "--ws-max-queue", "4",
            "--ws-ping-interval", "0",
            "--ws-ping-timeout", "2.5",
            "--no-ws-per-message-deflate",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert (
        config.ws_max_message_size,
        config.ws_max_queue,
        config.ws_ping_interval,
        config.ws_ping_timeout,
        config.ws_per_message_deflate,
    ) == (4096, 4, 0.0, 2.5, False)
    assert config_from_args(_parser().parse_args(["main:app"])).ws_per_message_deflate is True


def test_proxy_flags_map_onto_config() -> None:
    args = _parser().parse_args(
        [
            "main:app",
            "--bind", "0.0.0.0:8000?proxy_protocol=1",
            "--bind", "unix:/run/app.sock?mode=660",
            "--proxy-headers",
            "--forwarded-allow-ips", "10.0.0.0/8,unix",
            "--forwarded-header", "forwarded",
            "--proxy-protocol",
            "--proxy-protocol-timeout", "1.5",
            "--max-proxy-header-size", "512",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.binds == ("0.0.0.0:8000?proxy_protocol=1", "unix:/run/app.sock?mode=660")
    assert (
        config.proxy_headers,
        config.forwarded_allow_ips,
        config.forwarded_header,
        config.proxy_protocol,
        config.proxy_protocol_timeout,
        config.max_proxy_header_size,
    ) == (True, "10.0.0.0/8,unix", "forwarded", True, 1.5, 512)
    defaults = config_from_args(_parser().parse_args(["main:app"]))
    assert (defaults.proxy_headers, defaults.proxy_protocol) == (False, False)
    assert defaults.forwarded_allow_ips == "127.0.0.1,::1,unix"


def test_host_and_port_flags() -> None:
    config = config_from_args(_parser().parse_args(["m:a", "--host", "::1", "--port", "9001"]))
    assert config.binds == ("[::1]:9001",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_head_size": 0}, "max_head_size must be a positive integer"),
        ({"head_timeout": -1}, "head_timeout must be a positive number of seconds"),
        ({"loop": "tokio"}, "loop must be one of"),
        ({"root_path": "api/"}, "root_path must start with '/'"),
        ({"binds": ()}, "at least one bind address"),
        ({"keyfile": "k.pem"}, "keyfile given without certfile"),
        ({"ws_max_message_size": 0}, "ws_max_message_size must be a positive integer"),
        ({"ws_max_queue": -1}, "ws_max_queue must be a positive integer"),
        ({"ws_ping_timeout": 0}, "ws_ping_timeout must be a positive number of seconds"),
        ({"ws_ping_interval": -1}, "ws_ping_interval must be >= 0 seconds"),
    ],
)
def test_config_errors_say_what_to_fix(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(**changes)  # type: ignore[arg-type]


def test_bind_error_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    result = run_cli("main:app", "--bind", "nonsense", cwd=tmp_path)
    assert result.returncode == 2
    assert "must be host:port" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_serve_and_signal_shut_down_cleanly(tmp_path: Path, loop: str, sig: signal.Signals) -> None:
    (tmp_path / "main.py").write_text(APP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapster", "main:app", "--bind", "127.0.0.1:0", "--loop", loop],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "Tapster serving on http://127.0.0.1:" in line, line
        url = line.split("serving on ", 1)[1].strip()
        assert httpx.get(url).text == "from the cli"
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    deadline = time.monotonic() + 5
    while not (tmp_path / "shutdown.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "shutdown.txt").read_text() == "clean"
