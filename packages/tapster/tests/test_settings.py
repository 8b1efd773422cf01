"""Config from a TOML file, TAPSTER_* variables and flags: one name per setting in each, checked values,
errors that say where the bad value came from, and the precedence flags > environment > file."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tapster import Config, ConfigError
from tapster._settings import load_config
from tapster.cli import _parser, config_from_args
from tapster.config import GROUPS, Setting, settings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def _other_value(setting: Setting) -> Any:
    """A valid value that is not the default."""
    if setting.kind == "bool":
        return not setting.default
    if setting.choices is not None:
        return next(c for c in setting.choices if c != setting.default)
    if setting.kind == "int":
        return setting.default + 1
    if setting.kind == "optional-int":  # (None by default: no bound)
        return 7
    if setting.kind == "float":
        return setting.default + 1.5
    if setting.kind == "list":
        return ["127.0.0.1:9999", "unix:/tmp/x.sock"]
    if setting.name == "root_path":
        return "/api"
    if setting.name == "forwarded_allow_ips":
        return "10.0.0.0/8,unix"
    return "/etc/cert.pem"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _expected(setting: Setting, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _extra(setting: Setting) -> dict[str, Any]:
    """Other settings a setting's value needs beside it."""
    if setting.name == "keyfile":
        return {"certfile": "/etc/cert.pem"}
    if setting.name in ("max_requests", "worker_max_rss"):
        return {"workers": 1}  # (they replace workers: a supervisor's settings)
    if setting.name == "max_requests_jitter":
        return {"workers": 1, "max_requests": 100}
    return {}


def _by_name(name: str) -> Setting:
    return next(s for s in settings() if s.name == name)


@pytest.mark.parametrize("setting", settings(), ids=lambda s: s.name)
def test_every_setting_is_a_key_a_variable_and_a_flag(setting: Setting, tmp_path: Path) -> None:
    value = _other_value(setting)
    extra = _extra(setting)
    file = tmp_path / "tapster.toml"
    tables: dict[str, list[str]] = {setting.group: [f"{setting.key} = {_toml(value)}"]}
    for name, other in extra.items():
        needed = _by_name(name)
        tables.setdefault(needed.group, []).append(f"{needed.key} = {_toml(other)}")
    file.write_text("".join(f"[{group}]\n" + "\n".join(lines) + "\n" for group, lines in tables.items()))
    from_file = load_config(file)
    assert getattr(from_file, setting.name) == _expected(setting, value)

    environ = {setting.env: _text(value), **{_by_name(n).env: _text(v) for n, v in extra.items()}}
    assert getattr(load_config(environ=environ), setting.name) == _expected(setting, value)

    if setting.kind == "bool":
        argv = [setting.flag if value else "--no-" + setting.flag[2:]]
    elif setting.kind == "list":
        argv = [arg for bind in value for arg in (setting.flag, bind)]
    else:
        argv = [setting.flag, str(value)]
    for name, other in extra.items():
        argv += [_by_name(name).flag, str(other)]
    from_flags = config_from_args(_parser().parse_args(["m:a", *argv]), environ={})
    assert getattr(from_flags, setting.name) == _expected(setting, value)
    others = {s.name: getattr(from_flags, s.name) for s in settings() if s.name != setting.name}
    assert others == {s.name: getattr(Config(**extra), s.name) for s in settings() if s.name != setting.name}


def test_settings_have_distinct_names_everywhere() -> None:
    table = settings()
    for attribute in ("name", "env", "flag"):
        names = [getattr(s, attribute) for s in table]
        assert len(names) == len(set(names)), attribute
    assert len({(s.group, s.key) for s in table}) == len(table)
    assert {s.group for s in table} <= set(GROUPS)
    assert all(s.env == "TAPSTER_" + s.flag[2:].replace("-", "_").upper() for s in table)


def test_the_reference_lists_every_key_flag_and_variable() -> None:
    text = DOCS.read_text()
    tables = re.split(r"^## ", text, flags=re.M)
    for setting in settings():
        section = next((t for t in tables if f"`[{setting.group}]`" in t.splitlines()[0]), None)
        assert section is not None, f"docs/configuration.md has no section for [{setting.group}]"
        row = next((line for line in section.splitlines() if line.startswith(f"| `{setting.key}` ")), None)
        assert row is not None, f"[{setting.group}] {setting.key} is not in docs/configuration.md"
        assert f"`{setting.flag}`" in row, row
        assert f"`{setting.env}`" in row, row


def test_precedence_flags_over_environment_over_file(tmp_path: Path) -> None:
    file = tmp_path / "tapster.toml"
    file.write_text("[limits]\nmax_headers = 10\nmax_head_size = 1000\n[timeouts]\nhead_timeout = 3\n")
    environ = {"TAPSTER_CONFIG": str(file), "TAPSTER_MAX_HEADERS": "20", "TAPSTER_HEAD_TIMEOUT": "4"}
    config = config_from_args(_parser().parse_args(["m:a", "--head-timeout", "5"]), environ=environ)
    assert (config.max_head_size, config.max_headers, config.head_timeout) == (1000, 20, 5.0)
    # --config names the file over TAPSTER_CONFIG.
    other = tmp_path / "other.toml"
    other.write_text("[limits]\nmax_head_size = 2000\n")
    config = config_from_args(_parser().parse_args(["m:a", "--config", str(other)]), environ=environ)
    assert (config.max_head_size, config.max_headers) == (2000, 20)


def test_host_and_port_add_to_the_binds_of_the_file(tmp_path: Path) -> None:
    file = tmp_path / "tapster.toml"
    file.write_text('[server]\nbind = "unix:/tmp/a.sock"\n')
    args = _parser().parse_args(["m:a", "--config", str(file), "--port", "9001"])
    assert config_from_args(args, environ={}).binds == ("127.0.0.1:9001",)
    args = _parser().parse_args(["m:a", "--config", str(file)])
    assert config_from_args(args, environ={}).binds == ("unix:/tmp/a.sock",)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[limit]\nmax_headers = 1\n", r"unknown table \[limit\] \(did you mean 'limits'\?\); the tables"),
        ("[limits]\nmax_header = 1\n", r"unknown key 'max_header' in \[limits\] \(did you mean 'max_headers"),
        ("max_headers = 1\n", r"max_headers must be a table, \[max_headers\]|unknown table \[max_headers\]"),
        ("[limits]\nmax_headers = '10'\n", r"\[limits\] max_headers in .* must be an integer; got '10'"),
        ("[limits]\nmax_headers = true\n", r"must be an integer; got True"),
        ("[timeouts]\nhead_timeout = 'soon'\n", r"\[timeouts\] head_timeout in .* must be a number; got 's"),
        ("[server]\nloop = 'tokio'\n", r"\[server\] loop in .* must be one of auto, asyncio, uvloop, trio"),
        ("[server]\nbind = [1]\n", r"\[server\] bind in .* must be a list of strings"),
        ("[http2]\nenabled = 'yes'\n", r"\[http2\] enabled in .* must be true or false"),
        ("[limits]\nmax_headers = 0\n", r"max_headers must be a .* \(set by \[limits\] max_headers in "),
        ("[limits\n", r"is not valid TOML"),
    ],
)  # fmt: skip
def test_bad_files_are_errors_that_name_the_key(tmp_path: Path, document: str, message: str) -> None:
    file = tmp_path / "tapster.toml"
    file.write_text(document)
    with pytest.raises(ConfigError, match=message):
        load_config(file)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file '.*nope.toml' does not exist"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TAPSTER_MAX_HEADER": "1"}, r"unknown .* TAPSTER_MAX_HEADER \(did you mean 'TAPSTER_MAX_HEADERS'"),
        ({"TAPSTER_MAX_HEADERS": "ten"}, r"TAPSTER_MAX_HEADERS must be an integer; got 'ten'"),
        ({"TAPSTER_ACCESS_LOG": "maybe"}, r"TAPSTER_ACCESS_LOG must be 1/0, true/false, yes/no or on/off"),
        ({"TAPSTER_LOOP": "tokio"}, r"TAPSTER_LOOP must be one of"),
        ({"TAPSTER_BIND": " , "}, r"TAPSTER_BIND must name at least one value"),
        ({"TAPSTER_HEAD_TIMEOUT": "-1"}, r"head_timeout must be .* -1.0 \(set by TAPSTER_HEAD_TIMEOUT\)"),
    ],
)  # fmt: skip
def test_bad_variables_are_errors_that_name_them(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_variables_of_other_programs_are_ignored() -> None:
    config = load_config(environ={"PATH": "/bin", "TAPSTERX": "1", "UVICORN_PORT": "1"})
    assert config == Config()


def test_lists_in_variables_split_on_commas_and_spaces() -> None:
    config = load_config(environ={"TAPSTER_BIND": "127.0.0.1:1, unix:/tmp/s.sock  [::1]:2"})
    assert config.binds == ("127.0.0.1:1", "unix:/tmp/s.sock", "[::1]:2")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


APP = """
async def app(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope.get("root_path", "").encode()})
"""


def test_the_command_serves_with_its_file_and_variables(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    port = _free_port()
    (tmp_path / "tapster.toml").write_text(
        f'[server]\nbind = ["127.0.0.1:{port}"]\nroot_path = "/from-file"\nlifespan = "off"\n'
    )
    environ = {"PATH": "/usr/bin:/bin", "TAPSTER_CONFIG": "tapster.toml", "TAPSTER_ROOT_PATH": "/from-env"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tapster", "main:app"], cwd=tmp_path, env=environ, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/x")
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the server did not listen on the file's bind"
                time.sleep(0.05)
        assert response.text == "/from-env"
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stderr:
            process.stderr.close()


def test_the_command_refuses_a_bad_file_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    (tmp_path / "tapster.toml").write_text("[websocket]\nmax_mesage_size = 10\n")
    result = subprocess.run(
        [sys.executable, "-m", "tapster", "main:app", "--config", "tapster.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tapster: error: tapster.toml: unknown key 'max_mesage_size' in [websocket] "
        "(did you mean 'max_message_size'?); its keys are max_message_size, max_queue, ping_interval, "
        "ping_timeout, per_message_deflate, deflate_window_bits, deflate_level, deflate_idle_timeout"
    )


def test_the_reference_lists_every_flag_of_the_command_line() -> None:
    text = DOCS.read_text()
    flags = {opt for action in _parser()._actions for opt in action.option_strings if opt.startswith("--")}
    missing = sorted(flag for flag in flags if f"`{flag}" not in text)
    assert not missing, f"docs/configuration.md does not name {missing}"
