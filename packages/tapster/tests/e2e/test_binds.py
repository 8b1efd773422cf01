"""Binds end to end: several at once, TLS on some and not on others, unix sockets with mode and owner,
and systemd socket activation with a real tapster process, inherited sockets and a real SIGTERM."""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
import trustme
from tapster import ConfigError

from conftest import ServeFactory, require_tool, start_server

from .apps import Recorder


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "::1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context, str(certfile), str(keyfile)


def test_several_binds_tls_on_some(
    serve: ServeFactory, tmp_path: Path, tls: tuple[ssl.SSLContext, str, str]
) -> None:
    context, certfile, keyfile = tls
    sock_path = tmp_path / "plain.sock"
    running = serve(
        Recorder(),
        certfile=certfile,
        keyfile=keyfile,
        binds=("127.0.0.1:0", "127.0.0.1:0?tls=0", "[::1]:0", f"unix:{sock_path}?tls=0"),
    )
    secure, plain, secure6, unix = running.server.addresses
    assert secure.startswith("https://127.0.0.1:")
    assert plain.startswith("http://127.0.0.1:")
    assert secure6.startswith("https://[::1]:")
    assert unix == f"unix:{sock_path}"
    with httpx.Client(verify=context) as client:
        assert client.get(f"{secure}/scope").json()["scheme"] == "https"
        assert client.get(f"{secure6}/scope").json()["scheme"] == "https"
        assert client.get(f"{plain}/scope").json()["scheme"] == "http"
        with pytest.raises(httpx.HTTPError):
            client.get(f"{secure.replace('https', 'http')}/status")  # TLS there, not cleartext
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock_path))) as client:
        assert client.get("http://localhost/scope").json()["scheme"] == "http"


def test_a_certificate_on_one_bind_only(serve: ServeFactory, tls: tuple[ssl.SSLContext, str, str]) -> None:
    context, certfile, keyfile = tls
    running = serve(Recorder(), binds=("127.0.0.1:0", f"127.0.0.1:0?certfile={certfile}&keyfile={keyfile}"))
    plain, secure = running.server.addresses
    assert plain.startswith("http://")
    assert secure.startswith("https://")
    with httpx.Client(verify=context) as client:
        assert client.get(f"{plain}/status").text == "ok"
        assert client.get(f"{secure}/scope").json()["scheme"] == "https"


def test_unix_socket_mode_and_owner(serve: ServeFactory, tmp_path: Path) -> None:
    # As root the socket goes to nobody; otherwise to ourselves and one of our groups (all a
    # non-root process may give).
    if os.geteuid() == 0:
        owner = pwd.getpwnam("nobody")
        uid, gid, user = owner.pw_uid, owner.pw_gid, "nobody"
    else:
        uid, gid, user = os.getuid(), os.getgroups()[-1], pwd.getpwuid(os.getuid()).pw_name
    path = tmp_path / "app.sock"
    running = serve(Recorder(), binds=(f"unix:{path}?mode=660&owner={user}&group={gid}",))
    info = path.stat()
    assert info.st_mode & 0o777 == 0o660
    assert (info.st_uid, info.st_gid) == (uid, gid)
    running.stop()
    assert not path.exists()


def test_unix_socket_mode_is_enforced(serve: ServeFactory) -> None:
    # curl connects only where the socket's mode lets its user: run as nobody when we are root
    # (root passes every permission check), else as ourselves against a mode that shuts us out.
    curl = require_tool("curl", "curl")
    as_root = os.geteuid() == 0
    nobody = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="tapster-modes-"))  # (pytest's tmp_path may be ours alone)
    folder.chmod(0o755)

    def fetch(path: Path, *, as_nobody: bool = as_root) -> subprocess.CompletedProcess[str]:
        command = [curl, "-sS", "--unix-socket", str(path), "http://localhost/status"]
        if as_nobody:
            return subprocess.run(
                command, user=nobody.pw_uid, group=nobody.pw_gid, capture_output=True, text=True, timeout=20
            )
        return subprocess.run(command, capture_output=True, text=True, timeout=20)

    try:
        closed, opened = folder / "closed.sock", folder / "open.sock"
        modes = ("600", "666") if as_root else ("000", "600")
        serve(Recorder(), binds=(f"unix:{closed}?mode={modes[0]}", f"unix:{opened}?mode={modes[1]}"))
        refused = fetch(closed)
        assert refused.returncode == 7, refused.stderr  # couldn't connect
        assert fetch(opened).stdout == "ok"
        if as_root:  # the socket is there and serving: only its mode kept nobody out
            assert fetch(closed, as_nobody=False).stdout == "ok"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_unknown_owner_is_a_config_error(loop_name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no user named 'no-such-user-here'"):
        start_server(Recorder(), loop_name, binds=(f"unix:{tmp_path / 'a.sock'}?owner=no-such-user-here",))
    assert not (tmp_path / "a.sock").exists()


APP = """
import json

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"], "server": scope["server"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""

# sd_listen_fds(3): the sockets at fds 3, 4, ...; LISTEN_PID is the pid of the process that takes
# them, which the shell keeps when it execs tapster. (bash: dash takes no fd numbers above 9.)
LAUNCH = 'exec 3<&"$WEB_FD" 4<&"$ADMIN_FD"; LISTEN_PID=$$ exec "$PYTHON" -m tapster "$@"'


def _listening(kind: socket.AddressFamily, address: str | tuple[str, int]) -> socket.socket:
    sock = socket.socket(kind, socket.SOCK_STREAM)
    sock.bind(address)
    sock.listen(16)
    return sock


def _high_fd(sock: socket.socket) -> int:
    """A copy of the socket's fd above the ones the launch script writes to (3 and 4)."""
    return fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 50)


def test_systemd_socket_activation(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    web = _listening(socket.AF_INET, ("127.0.0.1", 0))
    admin = _listening(socket.AF_UNIX, str(tmp_path / "admin.sock"))
    fds = (_high_fd(web), _high_fd(admin))
    env = dict(
        os.environ,
        WEB_FD=str(fds[0]),
        ADMIN_FD=str(fds[1]),
        PYTHON=sys.executable,
        LISTEN_FDS="2",
        LISTEN_FDNAMES="web:admin",
    )
    args = ["main:app", "--bind", "systemd:web", "--bind", "systemd:admin?proxy_protocol=1", "--access-log"]
    proc = subprocess.Popen(
        ["bash", "-c", LAUNCH, "bash", *args],
        cwd=tmp_path,
        env=env,
        pass_fds=fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for fd in fds:
            os.close(fd)
        port = web.getsockname()[1]
        # The sockets listen already: requests wait in their backlog until tapster accepts them.
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=20)
        assert response.json()["client"][0] == "127.0.0.1"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(20)
            sock.connect(str(tmp_path / "admin.sock"))
            sock.sendall(b"PROXY TCP4 203.0.113.7 10.0.0.1 4711 443\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            while not data.endswith(b"}"):
                chunk = sock.recv(4096)
                assert chunk, data
                data += chunk
        assert json.loads(data.partition(b"\r\n\r\n")[2]) == {
            "client": ["203.0.113.7", 4711],
            "server": ["10.0.0.1", 443],
        }
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        web.close()
        admin.close()
    assert proc.returncode == 0, err
    assert f"Tapster serving on http://127.0.0.1:{port}" in err
    assert f"Tapster serving on unix:{tmp_path / 'admin.sock'}" in err
    lines = out.splitlines()
    assert lines[0].startswith("127.0.0.1:")
    assert lines[0].endswith(f'"GET / HTTP/1.1" 200 {len(response.content)}')
    assert lines[1].startswith('203.0.113.7:4711 - "GET / HTTP/1.1" 200')


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no sockets from systemd (LISTEN_FDS is not set)"),
        ({"LISTEN_FDS": "1", "LISTEN_PID": "1"}, "the systemd sockets are for process 1, not this one"),
    ],
)
def test_systemd_bind_without_activation_is_a_one_line_error(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    (tmp_path / "main.py").write_text(APP)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    result = subprocess.run(
        [sys.executable, "-m", "tapster", "main:app", "--bind", "systemd:"],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_systemd_name_not_passed(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    web = _listening(socket.AF_INET, ("127.0.0.1", 0))
    fd = _high_fd(web)
    env = dict(os.environ, WEB_FD=str(fd), ADMIN_FD=str(fd), PYTHON=sys.executable, LISTEN_FDS="1")
    env["LISTEN_FDNAMES"] = "web"
    try:
        result = subprocess.run(
            ["bash", "-c", LAUNCH, "bash", "main:app", "--bind", "systemd:metrics"],
            cwd=tmp_path,
            env=env,
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        os.close(fd)
        web.close()
    assert result.returncode == 2
    assert "systemd passed no socket named 'metrics' (LISTEN_FDNAMES='web')" in result.stderr
