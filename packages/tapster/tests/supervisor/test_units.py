"""The supervisor's parts without processes: the channel's bounds, the reload filter, the request
budget, the worker's Config round trip, the settings and their flags, the test fixture's teardown."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import tapster
from tapster import Config, ConfigError
from tapster.cli import _parser, config_from_args
from tapster.supervisor._channel import MAX_MESSAGE, Channel, ChannelError
from tapster.supervisor._reload import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, ChangeFilter, Watcher
from tapster.supervisor._supervisor import describe_exit, rss_mib
from tapster.supervisor._worker import RequestBudget, config_from_message

from conftest import RunningServer, stop_all


@pytest.fixture
def pair() -> Any:
    a, b = socket.socketpair()
    yield Channel(a), Channel(b)
    a.close()
    b.close()


def test_channel_carries_messages_both_ways(pair: tuple[Channel, Channel]) -> None:
    supervisor, worker = pair
    supervisor.send({"event": "start", "config": {"binds": ["fd://3"]}})
    supervisor.send({"event": "stop"})
    assert worker.receive() == {"event": "start", "config": {"binds": ["fd://3"]}}
    assert worker.receive() == {"event": "stop"}
    worker.send({"event": "ready"})
    supervisor.sock.setblocking(False)
    assert supervisor.receive_nowait() == [{"event": "ready"}]
    assert supervisor.receive_nowait() == []  # nothing more yet
    worker.close()
    assert supervisor.receive_nowait() is None  # EOF: the worker is gone


def test_channel_messages_are_bounded(pair: tuple[Channel, Channel]) -> None:
    supervisor, worker = pair
    with pytest.raises(ChannelError, match="over the"):
        supervisor.send({"event": "x", "data": "a" * MAX_MESSAGE})
    # A peer that sends a line longer than the bound, without its newline, is broken.
    sender = threading.Thread(target=lambda: supervisor.sock.sendall(b"x" * (MAX_MESSAGE + 10)))
    sender.start()
    with pytest.raises(ChannelError, match="longer than"):
        worker.receive()
    sender.join(10)


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n", b'{"no": "event"}\n'])
def test_channel_rejects_what_is_not_a_message(pair: tuple[Channel, Channel], line: bytes) -> None:
    supervisor, worker = pair
    supervisor.sock.sendall(line)
    with pytest.raises(ChannelError):
        worker.receive()


def test_change_filter(tmp_path: Path) -> None:
    root = str(tmp_path)
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    accept = ChangeFilter([root], DEFAULT_INCLUDES, DEFAULT_EXCLUDES).matches
    assert accept(f"{root}/app.py")
    assert accept(f"{root}/pkg/models.py")
    assert not accept(f"{root}/notes.txt")  # not included
    assert not accept(f"{root}/.git/hooks/x.py")  # hidden directory
    assert not accept(f"{root}/pkg/__pycache__/m.py")
    assert not accept(f"{root}/pkg/m.pyc")
    assert not accept(f"{root}/.#app.py")  # an editor's lock file
    assert not accept(f"{root}/node_modules/x.py")
    assert not accept(f"{root}/venv/lib/site.py")  # a virtualenv
    custom = ChangeFilter([root], ("*.py", "*.html", f"{root}/conf/settings.toml"), ("generated_*",)).matches
    assert custom(f"{root}/templates/page.html")
    assert not custom(f"{root}/generated_api.py")
    assert custom(f"{root}/conf/settings.toml")  # named by its path
    assert not custom(f"{root}/conf/other.toml")


def test_watcher_refuses_a_missing_directory(tmp_path: Path) -> None:
    config = Config(reload=True, reload_dirs=(str(tmp_path / "nope"),))
    with pytest.raises(ConfigError, match="does not exist"):
        Watcher(config, lambda: None)


@pytest.mark.anyio
async def test_request_budget_counts_requests_not_lifespan() -> None:
    seen: list[str] = []
    exhausted: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    budget = RequestBudget(app, 2, lambda: exhausted.append(budget.count))

    async def nothing() -> Any:
        return {}

    async def discard(message: Any) -> None:
        pass

    await budget({"type": "lifespan"}, nothing, discard)
    await budget({"type": "http"}, nothing, discard)
    assert exhausted == []
    await budget({"type": "websocket"}, nothing, discard)
    await budget({"type": "http"}, nothing, discard)  # past the budget: still served, told once
    assert exhausted == [2]
    assert seen == ["lifespan", "http", "websocket", "http"]


def test_config_survives_the_trip_to_a_worker() -> None:
    import json

    config = Config(binds=("fd://3", "fd://4"), workers=0, loop="trio", max_head_size=4096, root_path="/api")
    sent = json.loads(json.dumps(dataclasses.asdict(config)))
    assert config_from_message(sent) == config


def test_describe_exit() -> None:
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


def test_rss_of_this_process() -> None:
    rss = rss_mib(os.getpid())
    assert rss is not None
    assert 5 < rss < 4096
    assert rss_mib(2**22 + 12345) is None  # no such process


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": -1}, "workers must be an integer >= 0"),
        ({"max_requests": 10}, "need a supervisor"),
        ({"worker_max_rss": 100}, "need a supervisor"),
        ({"workers": 2, "max_requests_jitter": 5}, "max_requests_jitter needs max_requests"),
        ({"workers": 2, "worker_backoff_max": 0}, "worker_backoff_max must be a positive number"),
        ({"workers": 2, "worker_rss_check_interval": -1}, "worker_rss_check_interval must be a positive"),
        ({"workers": 2, "worker_start_timeout": 0}, "worker_start_timeout must be a positive"),
        ({"reload": True, "reload_includes": ("*.html", "")}, "reload_includes must be a tuple of non-empty"),
        ({"reload": True, "reload_dirs": ("",)}, "reload_dirs must be a tuple of non-empty strings"),
    ],
)
def test_supervisor_settings_say_what_to_fix(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_supervisor_flags_map_onto_config() -> None:
    args = _parser().parse_args(
        [
            "main:app",
            "--workers", "4",
            "--max-requests", "1000",
            "--max-requests-jitter", "50",
            "--worker-max-rss", "512",
            "--worker-rss-check-interval", "2.5",
            "--worker-start-timeout", "20",
            "--worker-backoff-max", "5",
            "--reload",
            "--reload-dir", "src",
            "--reload-dir", "templates",
            "--reload-include", "*.html",
            "--reload-exclude", "migrations",
        ]
    )  # fmt: skip
    config = config_from_args(args, environ={})
    defaults = Config()
    assert config == Config(
        workers=4,
        max_requests=1000,
        max_requests_jitter=50,
        worker_max_rss=512,
        worker_rss_check_interval=2.5,
        worker_start_timeout=20.0,
        worker_backoff_max=5.0,
        reload=True,
        reload_dirs=("src", "templates"),
        reload_includes=("*.html",),  # (added to the reloader's own: DEFAULT_INCLUDES, DEFAULT_EXCLUDES)
        reload_excludes=("migrations",),
    )
    assert config_from_args(_parser().parse_args(["main:app"]), environ={}) == defaults


def test_the_supervisor_api_is_what_we_mean() -> None:
    import tapster.supervisor as supervisor

    assert sorted(supervisor.__all__) == sorted(
        ["EXIT_APP", "EXIT_CONFIG", "EXIT_ERROR", "EXIT_OK", "AppSpec", "Supervisor", "run"]
    )
    assert (supervisor.EXIT_OK, supervisor.EXIT_ERROR, supervisor.EXIT_CONFIG, supervisor.EXIT_APP) == (
        0,
        1,
        2,
        3,
    )


def test_the_serve_fixture_reports_a_server_thread_that_died() -> None:
    # The fixture's teardown (conftest.stop_all): a server thread that crashed mid-test has its
    # error raised, not dropped with the thread.
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    crashed = RunningServer(tapster.Server(app), thread, [RuntimeError("the loop crashed")])
    with pytest.raises(RuntimeError, match="the loop crashed"):
        stop_all([crashed])
