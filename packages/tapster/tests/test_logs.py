"""Logging from the command line, in real processes: the default handlers, `--log-config` in each
format, never replacing what the app configured, no duplicate lines, and the access-log formats;
plus the metrics and admission flags."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tapster import Config
from tapster.cli import _parser, config_from_args

APP = """
import logging
{setup}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    logging.getLogger("myapp").warning("handled %s", scope["path"])
    headers = [(b"content-type", b"text/plain")]
    await send({{"type": "http.response.start", "status": 200, "headers": headers}})
    await send({{"type": "http.response.body", "body": b"hi"}})
"""


def serve_cli(tmp_path: Path, *args: str, setup: str = "") -> tuple[str, str]:
    """Run `tapster main:app ARGS` on a listening socket the test made (fd://), make two requests,
    SIGTERM it; its (stdout, stderr). (Connections made before the server accepts wait in the
    socket's backlog: nothing to wait for.)"""
    (tmp_path / "main.py").write_text(APP.format(setup=setup))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        fd = listener.fileno()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tapster", "main:app", "--bind", f"fd://{fd}", "--lifespan", "off", *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=(fd,),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(url + "/one", headers={"user-agent": "probe"}, timeout=20).text == "hi"
        assert httpx.get(url + "/two").text == "hi"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out, err


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "main.py").write_text(APP.format(setup=""))
    return subprocess.run(
        [sys.executable, "-m", "tapster", "main:app", "--bind", "127.0.0.1:0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_default_handlers_error_on_stderr_access_on_stdout(tmp_path: Path) -> None:
    out, err = serve_cli(tmp_path, "--access-log")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("127.0.0.1:")
    assert lines[0].endswith(' - "GET /one HTTP/1.1" 200 2')
    assert "INFO:  Tapster serving on http://127.0.0.1:" in err
    assert "INFO:  Shutting down" in err
    assert "handled /one" in err  # the app's own logger: Python's last-resort handler, untouched


def test_no_access_log_without_the_flag(tmp_path: Path) -> None:
    out, _ = serve_cli(tmp_path)
    assert out == ""


def test_log_level_warning_hides_info(tmp_path: Path) -> None:
    out, err = serve_cli(tmp_path, "--log-level", "warning", "--access-log")
    assert "Tapster serving" not in err
    assert "handled /one" in err
    assert len(out.splitlines()) == 2


def test_json_access_log_from_the_command_line(tmp_path: Path) -> None:
    out, _ = serve_cli(tmp_path, "--access-log", "--access-log-format", "json")
    first, second = (json.loads(line) for line in out.splitlines())
    assert (first["path"], first["status"], first["bytes"], first["user_agent"]) == ("/one", 200, 2, "probe")
    assert second["path"] == "/two"


def test_app_that_configures_logging_keeps_its_handlers_and_no_line_doubles(tmp_path: Path) -> None:
    # basicConfig at import: a root handler in the app's format. Tapster adds none of its own, and
    # its records reach the root once each (Hypercorn #357: every line twice).
    setup = 'logging.basicConfig(level=logging.INFO, format="APP %(name)s %(message)s")'
    out, err = serve_cli(tmp_path, "--access-log", setup=setup)
    assert out == ""
    access = [line for line in err.splitlines() if line.startswith("APP tapster.access")]
    assert len(access) == 2
    assert access[0].endswith('"GET /one HTTP/1.1" 200 2')
    assert err.count("APP tapster.error Tapster serving on") == 1
    assert err.count("APP myapp handled /one") == 1


def test_app_handler_on_the_access_logger_is_not_replaced(tmp_path: Path) -> None:
    setup = (
        "import sys\n"
        "handler = logging.StreamHandler(sys.stdout)\n"
        'handler.setFormatter(logging.Formatter("MINE %(message)s"))\n'
        'logging.getLogger("tapster.access").addHandler(handler)\n'
    )
    out, _ = serve_cli(tmp_path, "--access-log", "--access-log-format", "%(U)s %(s)s", setup=setup)
    assert out.splitlines() == ["MINE /one 200", "MINE /two 200"]


DICT_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "CFG %(name)s %(levelname)s %(message)s"}},
    "handlers": {
        "err": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "tapster.error": {"handlers": ["err"], "level": "INFO", "propagate": False},
        "tapster.access": {"handlers": ["err"], "level": "INFO", "propagate": False},
    },
}

TOML_CONFIG = """
version = 1
disable_existing_loggers = false
[formatters.plain]
format = "CFG %(name)s %(levelname)s %(message)s"
[handlers.err]
class = "logging.StreamHandler"
formatter = "plain"
stream = "ext://sys.stderr"
[loggers."tapster.error"]
handlers = ["err"]
level = "INFO"
propagate = false
[loggers."tapster.access"]
handlers = ["err"]
level = "INFO"
propagate = false
"""

YAML_CONFIG = """
version: 1
disable_existing_loggers: false
formatters:
  plain: {format: "CFG %(name)s %(levelname)s %(message)s"}
handlers:
  err: {class: logging.StreamHandler, formatter: plain, stream: ext://sys.stderr}
loggers:
  tapster.error: {handlers: [err], level: INFO, propagate: false}
  tapster.access: {handlers: [err], level: INFO, propagate: false}
"""

INI_CONFIG = """
[loggers]
keys = root, error, access
[handlers]
keys = err
[formatters]
keys = plain
[logger_root]
handlers =
[logger_error]
qualname = tapster.error
handlers = err
level = INFO
propagate = 0
[logger_access]
qualname = tapster.access
handlers = err
level = INFO
propagate = 0
[handler_err]
class = StreamHandler
formatter = plain
args = (sys.stderr,)
[formatter_plain]
format = CFG %(name)s %(levelname)s %(message)s
"""


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("logging.json", json.dumps(DICT_CONFIG)),
        ("logging.toml", TOML_CONFIG),
        ("logging.yaml", YAML_CONFIG),
        ("logging.ini", INI_CONFIG),
    ],
)
def test_log_config_files(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    out, err = serve_cli(tmp_path, "--log-config", name, "--access-log")
    assert out == ""  # tapster added no handler of its own
    assert err.count("CFG tapster.error INFO Tapster serving on http://127.0.0.1:") == 1
    access = [line for line in err.splitlines() if line.startswith("CFG tapster.access INFO")]
    assert len(access) == 2
    assert access[0].endswith('"GET /one HTTP/1.1" 200 2')


def test_yaml_without_pyyaml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP.format(setup=""))
    (tmp_path / "logging.yaml").write_text(YAML_CONFIG)
    # PyYAML is installed here: the child process is made to find no module named yaml.
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "from tapster.cli import main\n"
        "sys.exit(main(['main:app', '--bind', '127.0.0.1:0', '--log-config', 'logging.yaml']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tapster: error: log_config 'logging.yaml' is YAML, which needs PyYAML: pip install pyyaml "
        "(or write the same dictConfig as .json or .toml)"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.json", None, "log_config 'missing.json': no such file"),
        ("logging.xml", "<x/>", "unknown kind .xml"),
        ("logging.json", "{not json", "log_config 'logging.json': Expecting property name"),
        ("logging.json", "[1, 2]", "must hold a dictConfig mapping"),
        (
            "logging.json",
            '{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}',
            "Unable to configure",
        ),
        ("logging.yaml", "a: [unclosed", "log_config 'logging.yaml': while parsing"),
        ("logging.ini", "[loggers]\nkeys = nope\n", "log_config 'logging.ini':"),
        ("logging.ini", "no section header\n", "File contains no section headers"),
    ],
)
def test_bad_log_config_is_a_one_line_error(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    result = run_cli(tmp_path, "--log-config", name)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tapster: error: "), result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_bad_access_log_format_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--access-log-format", "%(nope)s")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "tapster: error: access_log_format '%(nope)s': unknown access-log atom"
    )


def test_observability_flags_map_onto_config() -> None:
    args = _parser().parse_args(
        [
            "main:app",
            "--log-config", "log.toml",
            "--access-log-format", "json",
            "--metrics-bind", "127.0.0.1:9100",
            "--statsd-host", "127.0.0.1:8125",
            "--statsd-prefix", "web",
            "--dogstatsd-tags", "env:prod",
            "--dogstatsd-tags", "team:web",
            "--statsd-max-packet", "8932",
            "--limit-concurrency", "500",
            "--max-connections", "2000",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert config == Config(
        log_config="log.toml",
        access_log_format="json",
        metrics_bind="127.0.0.1:9100",
        statsd_host="127.0.0.1:8125",
        statsd_prefix="web",
        dogstatsd_tags=("env:prod", "team:web"),
        statsd_max_packet=8932,
        limit_concurrency=500,
        max_connections=2000,
    )
    defaults = config_from_args(_parser().parse_args(["main:app"]))
    assert (defaults.limit_concurrency, defaults.max_connections, defaults.metrics_bind) == (None, None, None)


def test_metrics_and_limits_from_the_command_line(tmp_path: Path) -> None:
    _, err = serve_cli(
        tmp_path, "--metrics-bind", "127.0.0.1:0", "--limit-concurrency", "8", "--max-connections", "8"
    )
    assert "Metrics on http://127.0.0.1:" in err


def test_metrics_without_prometheus_client_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP.format(setup=""))
    # prometheus_client is installed here: the child process is made to find no such module.
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from tapster.cli import main\n"
        "sys.exit(main(['main:app', '--bind', '127.0.0.1:0', '--metrics-bind', '127.0.0.1:0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tapster: error: --metrics-bind needs prometheus_client: pip install 'tapster[metrics]'"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--statsd-host", "nonsense"], "statsd_host 'nonsense' must be host:port or unix:/path"),
        (["--statsd-host", "127.0.0.1:99999"], "must be host:port or unix:/path"),
        (
            ["--statsd-host", "unix:/nonexistent/dir/dsd.sock"],
            "statsd_host 'unix:/nonexistent/dir/dsd.sock': ",
        ),
        (["--metrics-bind", "nonsense"], "bind 'nonsense' must be host:port"),
        (["--dogstatsd-tags", "a|b"], "dogstatsd tag 'a|b' must be non-empty, without ',', '|' or '#'"),
        (["--statsd-prefix", "a:b"], "statsd_prefix must be a name without"),
        (["--limit-concurrency", "0"], "limit_concurrency must be a positive integer"),
        (["--max-connections", "-1"], "max_connections must be a positive integer"),
    ],
)
def test_bad_metrics_and_limit_flags(tmp_path: Path, flags: list[str], message: str) -> None:
    result = run_cli(tmp_path, *flags)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tapster: error: "), result.stderr
    assert message in result.stderr
