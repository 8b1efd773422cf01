"""The deployment page's files (docs/deployment.md), checked where this machine can check them:

- nginx.conf, the very file the page shows, only its ports and paths changed, run by Debian's nginx
  in front of a real tapster process on a Unix socket: TLS and HTTP/2 to the client, the client's
  address and scheme as the app sees them, a websocket, the body limit, the redirect to https; over
  real sockets with httpx and the `websockets` client;
- the systemd units, with `systemd-analyze verify` (it needs no running systemd), and the command
  they start, run as systemd runs it (the socket passed in with LISTEN_FDS);
- the Dockerfile, which cannot be built here (no registry for its base image): its files exist and
  are not ignored, its command parses with tapster's own parser, serves the app, and its HEALTHCHECK
  passes against it;
- k8s.yaml: its command parses, its probes' routes answer 200, its deadlines and memory fit.

The commands carry the supervisor's flags (--workers, --max-requests, ...). Where tapster's parser
does not know them yet, they are left out before the rest is checked, and the tests that take the
whole command are expected failures (strict: one that passes fails the run). Once the parser has
the flags, nothing is left out and those tests run as any other."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import yaml
from tapster._importer import import_app
from tapster.cli import _parser, config_from_args
from tapster.config import Config
from websockets.sync.client import connect as websocket_connect

from conftest import ROOT, START_TIMEOUT, Process, free_port, require_tool
from examples.notes.conftest import make_app

HERE = Path(__file__).resolve().parent
NGINX_CONF = HERE / "nginx.conf"
DOCKERFILE = HERE / "Dockerfile"
DOCKERIGNORE = HERE / "Dockerfile.dockerignore"
K8S = HERE / "k8s.yaml"
UNITS = (HERE / "tapster-notes.socket", HERE / "tapster-notes.service")
PAGE = ROOT / "docs" / "deployment.md"

# ----------------------------------------------------------------- the page shows the files


def test_the_page_shows_each_file_as_it_is() -> None:
    """docs/deployment.md shows the files under `<!-- file: PATH -->` markers: what the page
    shows is what these tests run."""
    shown = dict(
        re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)^```$", PAGE.read_text(), re.DOTALL | re.MULTILINE)
    )
    files = [NGINX_CONF, *UNITS, DOCKERFILE, DOCKERIGNORE, K8S]
    assert sorted(shown) == sorted(str(path.relative_to(ROOT)) for path in files)
    for path in files:
        assert shown[str(path.relative_to(ROOT))] == path.read_text(), (
            f"the page's copy of {path.name} differs"
        )


# ----------------------------------------------------------------- commands, as tapster reads them

SUPERVISOR_FLAGS = ("--workers", "--max-requests", "--max-requests-jitter", "--worker-max-rss")
SUPERVISED = any("--workers" in action.option_strings for action in _parser()._actions)
whole_command = pytest.mark.xfail(
    not SUPERVISED,
    reason="tapster's parser does not know --workers yet (the supervisor of issue 12)",
    strict=True,
)


def without_unknown_flags(argv: Sequence[str]) -> list[str]:
    """`argv` without the supervisor's flags (and their values) while tapster's parser lacks them."""
    if SUPERVISED:
        return list(argv)
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in SUPERVISOR_FLAGS:
            skip = True
        else:
            kept.append(arg)
    return kept


def tapster_config(argv: Sequence[str]) -> Config:
    """The Config tapster's command line builds from `argv` (what follows the program's name),
    with no environment variables and no config file."""
    return config_from_args(_parser().parse_args(list(argv)), None)


def flag_value(argv: Sequence[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} once in {argv}"
    return argv[argv.index(flag) + 1]


def replaced(text: str, substitutions: Mapping[str, str]) -> str:
    """`text` with each key replaced by its value; each key must be there exactly once, so that a
    change to the file that a substitution no longer matches fails here rather than go untested."""
    for old, new in substitutions.items():
        assert text.count(old) == 1, f"{old!r} is not in the file exactly once"
        text = text.replace(old, new)
    return text


def app_environment(tmp: Path) -> dict[str, str]:
    """What a deployment passes the notes app: a secret key and a database (SQLite in `tmp` here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAPSTER_", "LISTEN_", "FIRKIN_"))}
    env["FIRKIN_SECRET_KEY"] = "deployment test secret"
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'notes.sqlite'}"
    return env


def stop(process: Process) -> None:
    status = process.stop()
    assert status == 0, process.output()


# ----------------------------------------------------------------- nginx in front of tapster

# A raw ASGI app that says what it was told: the client, the scheme and the host as tapster's proxy
# headers middleware left them, and the body's length; on a websocket, the same, then an echo.
ECHO_APP = """
import json


def seen(scope):
    headers = dict((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
    return {"client": scope["client"], "scheme": scope["scheme"], "host": headers.get("host")}


async def app(scope, receive, send):
    if scope["type"] == "http":
        length = 0
        while True:
            message = await receive()
            length += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.dumps({**seen(scope), "length": length}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(seen(scope))})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
"""

# What a host's main nginx.conf gives the site file; here, everything in the test's own folder.
NGINX_MAIN = """{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/notes.conf;
}}
"""

CLIENT = "127.0.0.2"  # the test's clients connect from here: neither nginx's address nor a proxy's


def unit_command() -> list[str]:
    """The service unit's ExecStart, split as systemd splits it."""
    text = UNITS[1].read_text().replace("\\\n", " ")
    (line,) = (line for line in text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def proxy_flags(argv: Sequence[str]) -> list[str]:
    """The flags of `argv` that say whom tapster believes: the nginx test runs tapster with these."""
    return ["--proxy-headers", "--forwarded-allow-ips", flag_value(argv, "--forwarded-allow-ips")]


@dataclass
class Stack:
    """nginx on two ports in front of tapster on a Unix socket."""

    http_port: int
    https_port: int
    tapster: Process
    ca: trustme.CA

    def trust(self) -> ssl.SSLContext:
        """A new context for each client: httpx sets ALPN on the one it is given (and a websocket
        client offered h2 would get it)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def client(self, *, http2: bool = False) -> httpx.Client:
        transport = httpx.HTTPTransport(verify=self.trust(), http2=http2, local_address=CLIENT)
        return httpx.Client(transport=transport, base_url=f"https://127.0.0.1:{self.https_port}", timeout=10)


def wait_listening(port: int, nginx: subprocess.Popen[bytes], log: Path) -> None:
    """Until nginx accepts connections on `port` (it says nothing when it is ready)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if nginx.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not listen on {port}:\n{log.read_text()}", pytrace=False)
            time.sleep(0.02)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = require_tool("nginx", "nginx")
    tmp = tmp_path_factory.mktemp("nginx")
    (tmp / "main.py").write_text(ECHO_APP)
    sock = tmp / "notes.sock"
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp / "privkey.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "fullchain.pem"))
    http_port, https_port = free_port(), free_port()
    site = replaced(
        NGINX_CONF.read_text(),
        {
            "unix:/run/notes/notes.sock;": f"unix:{sock};",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "/etc/letsencrypt/live/notes.example.com/fullchain.pem": str(tmp / "fullchain.pem"),
            "/etc/letsencrypt/live/notes.example.com/privkey.pem": str(tmp / "privkey.pem"),
        },
    )
    (tmp / "notes.conf").write_text(site)
    # As root, nginx's workers would run as nobody, who may not enter the test's folder.
    user = "user root root;" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(NGINX_MAIN.format(user=user, tmp=tmp))
    args = [nginx, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf")]
    checked = subprocess.run([*args, "-t", "-q"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr + (tmp / "error.log").read_text()

    tapster = Process(
        [
            sys.executable,
            "-m",
            "tapster",
            "main:app",
            "--app-dir",
            str(tmp),
            "--bind",
            f"unix:{sock}",
            "--loop",
            request.param,
            *proxy_flags(unit_command()),
            "--access-log",
        ],
        ready=r"Tapster serving on unix:",
    )
    server = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(https_port, server, tmp / "error.log")
        wait_listening(http_port, server, tmp / "error.log")
        yield Stack(http_port, https_port, tapster, ca)
    finally:
        server.terminate()
        server.wait(10)
        stop(tapster)


def test_the_app_sees_the_client_and_scheme_nginx_forwarded(stack: Stack) -> None:
    with stack.client(http2=True) as client:
        # A client's own X-Forwarded-For is no proof: nginx appends the address it saw, and tapster
        # believes only what its trusted peer (nginx, on the socket) added.
        response = client.get("/where", headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.http_version == "HTTP/2"  # to the client; nginx speaks HTTP/1.1 to tapster
    assert response.json() == {"client": [CLIENT, 0], "scheme": "https", "host": "127.0.0.1", "length": 0}
    # The access log names the client too, not the proxy.
    stack.tapster.wait_for(rf'^{re.escape(CLIENT)}:0 - "GET /where HTTP/1\.1" 200 ')


def test_a_websocket_through_nginx(stack: Stack) -> None:
    address = ("127.0.0.1", stack.https_port)
    with (
        socket.create_connection(address, timeout=10, source_address=(CLIENT, 0)) as sock,
        websocket_connect(
            f"wss://127.0.0.1:{stack.https_port}/live", sock=sock, ssl=stack.trust(), open_timeout=10
        ) as websocket,
    ):
        assert json.loads(websocket.recv(10)) == {"client": [CLIENT, 0], "scheme": "wss", "host": "127.0.0.1"}
        for text in ("hello", "é" * 1000):
            websocket.send(text)
            assert websocket.recv(10) == text


def test_nginx_refuses_a_body_over_the_limit_before_the_app(stack: Stack) -> None:
    limit = 64 * 1024  # client_max_body_size 64k: the notes app's MAX_CONTENT_LENGTH
    with stack.client() as client:
        fits = client.post("/fits", content=b"n" * limit)
        assert (fits.status_code, fits.json()["length"]) == (200, limit)
        over = client.post("/over", content=b"n" * (limit + 1))
        assert over.status_code == 413
        assert "nginx" in over.text
        client.get("/after")
    stack.tapster.wait_for(r'"GET /after HTTP/1\.1" 200 ')
    posts = [line for line in stack.tapster.lines if '"POST /' in line]
    assert len(posts) == 1, posts
    assert '"POST /fits HTTP/1.1" 200 ' in posts[0]


def test_plain_http_is_sent_to_https(stack: Stack) -> None:
    response = httpx.get(f"http://127.0.0.1:{stack.http_port}/notes/new?x=1", timeout=10)
    assert (response.status_code, response.headers["location"]) == (308, "https://127.0.0.1/notes/new?x=1")


# ----------------------------------------------------------------- systemd


def units_here(tmp: Path) -> list[Path]:
    """The two units, their program path pointed at this checkout's tapster."""
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        if unit.suffix == ".service":
            text = replaced(
                text, {"ExecStart=/srv/notes/.venv/bin/tapster ": f"ExecStart={tapster_program()} "}
            )
        (tmp / unit.name).write_text(text)
        copies.append(tmp / unit.name)
    return copies


def tapster_program() -> Path:
    program = Path(sys.executable).parent / "tapster"
    assert program.is_file(), f"{program}: tapster's script, installed with the package"
    return program


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    result = subprocess.run(
        [analyze, "verify", *map(str, units_here(tmp_path))], capture_output=True, text=True, timeout=60
    )
    # Unknown keys and sections are only warnings to systemd: any word from it is a failure here.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_unit_trusts_the_socket_nginx_connects_through() -> None:
    socket_unit = UNITS[0].read_text()
    assert "ListenStream=/run/notes/notes.sock\n" in socket_unit
    assert "server unix:/run/notes/notes.sock;" in NGINX_CONF.read_text()
    argv = unit_command()
    assert flag_value(argv, "--bind") == "systemd:web"
    assert "FileDescriptorName=web\n" in socket_unit
    config = tapster_config(without_unknown_flags(argv[1:]))
    assert (config.proxy_headers, config.forwarded_allow_ips) == (True, "unix")
    # systemd's SIGKILL comes after TimeoutStopSec: later than tapster's own deadline (the notes
    # app's lifespan shutdown, closing its database pool, takes well under a second).
    stop_deadline = re.search(r"^TimeoutStopSec=(\d+)$", UNITS[1].read_text(), re.MULTILINE)
    assert stop_deadline is not None
    assert int(stop_deadline[1]) > config.shutdown_timeout


# sd_listen_fds(3): the socket at fd 3, LISTEN_PID the pid of the process that takes it (the shell
# keeps its pid when it execs tapster). packages/tapster/tests/e2e/test_binds.py has the details.
LAUNCH = 'exec 3<&"$SOCKET_FD"; LISTEN_PID=$$ exec "$@"'


@whole_command
def test_the_units_command_serves_on_the_socket_systemd_passes(tmp_path: Path) -> None:
    """ExecStart as systemd runs it: the socket opened beforehand (mode 0660, as the socket unit
    says), passed as fd 3 named `web`; SIGHUP (ExecReload) and SIGTERM (systemctl stop)."""
    path = tmp_path / "notes.sock"
    argv = [str(tapster_program()), *unit_command()[1:]]
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        os.chmod(path, 0o660)
        listener.listen(64)
        fd = fcntl.fcntl(listener.fileno(), fcntl.F_DUPFD, 50)
        env = {**app_environment(tmp_path), "SOCKET_FD": str(fd), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "web"}
        try:
            process = Process(
                ["bash", "-c", LAUNCH, "bash", *argv], ready="serving on", env=env, pass_fds=(fd,)
            )
        finally:
            os.close(fd)
        try:
            transport = httpx.HTTPTransport(uds=str(path))
            with httpx.Client(transport=transport, base_url="http://notes.example.com", timeout=20) as client:
                assert client.get("/livez").json() == {"status": "ok"}
                # ExecReload: a rolling restart, which a tapster without workers would die of.
                process.popen.send_signal(signal.SIGHUP)
                for _ in range(10):
                    assert client.get("/health").json() == {"status": "ok", "database": "sqlite"}
        finally:
            stop(process)


# ----------------------------------------------------------------- the Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) for each instruction, continuation lines joined."""
    instructions = []
    for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def docker(instruction: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == instruction]


def container_command() -> list[str]:
    (cmd,) = docker("CMD")
    argv: list[str] = json.loads(cmd)  # the exec form: no shell between docker and tapster
    assert argv[0] == "tapster", argv
    return argv


def test_the_image_is_python_slim_and_not_root() -> None:
    assert docker("FROM") == ["python:3.12-slim"]
    (user,) = docker("USER")
    assert int(user) >= 1000  # a number: Kubernetes' runAsNonRoot can check it


def test_the_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    kept = [line[1:] for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")]
    assert DOCKERIGNORE.read_text().splitlines()[2] == "*"  # everything else is left out
    for copy in docker("COPY"):
        *sources, _ = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert any(
                source == k or k.startswith(source + "/") or source.startswith(k + "/") for k in kept
            ), f"{source} is left out of the build context by {DOCKERIGNORE.name}"


def test_the_container_command_parses_and_names_an_importable_app() -> None:
    argv = container_command()
    config = tapster_config(without_unknown_flags(argv[1:]))
    (port,) = docker("EXPOSE")
    assert config.binds == (f"0.0.0.0:{port}",)
    assert callable(import_app(argv[1], app_dir=str(ROOT)))


@whole_command
def test_the_whole_container_command_parses() -> None:
    argv = container_command()
    config = tapster_config(argv[1:])
    assert dataclasses.asdict(config)["workers"] >= 1  # (no attribute to type-check before the merge)


def test_the_container_command_serves_and_its_healthcheck_passes(tmp_path: Path) -> None:
    """The CMD in a process (the supervisor's flags left out until tapster has them), on a free
    port instead of 8000, then the HEALTHCHECK's own command against it."""
    (port,) = docker("EXPOSE")
    (healthcheck,) = docker("HEALTHCHECK")
    probe: list[str] = json.loads(healthcheck.partition(" CMD ")[2])
    assert probe[0] == "python", probe
    here = free_port()
    argv = without_unknown_flags(container_command()[1:])
    argv[argv.index(f"0.0.0.0:{port}")] = f"127.0.0.1:{here}"
    env = app_environment(tmp_path)
    process = Process(
        [sys.executable, "-m", "tapster", *argv], ready=rf"serving on .*127\.0\.0\.1:{here}", env=env
    )
    try:
        code = replaced(probe[2], {f"http://127.0.0.1:{port}/": f"http://127.0.0.1:{here}/"})
        answered = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert answered.returncode == 0, answered.stderr
    finally:
        stop(process)
    refused = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0  # and with nothing serving, the check fails


# ----------------------------------------------------------------- Kubernetes


def manifest() -> dict[str, Any]:
    """The manifest's documents by kind."""
    documents = list(yaml.safe_load_all(K8S.read_text()))
    kinds = {document["kind"]: document for document in documents}
    assert sorted(kinds) == ["Deployment", "Service"]
    return kinds


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = manifest()["Deployment"]["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (only,) = pod()["containers"]
    assert isinstance(only, dict)
    return only


def probe_paths() -> list[str]:
    probes = (container()[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe", "startupProbe"))
    return [probe["path"] for probe in probes]


@pytest.mark.anyio
async def test_the_probes_routes_answer_200(tmp_path: Path) -> None:
    paths = probe_paths()
    assert paths[:2] == ["/health", "/livez"]  # ready: with its database; alive: the process
    app = make_app(tmp_path / "instance")
    async with app.test_app() as served:
        client = served.test_client()
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)


def test_the_pod_listens_where_the_probes_and_the_service_look() -> None:
    spec = container()
    config = tapster_config(without_unknown_flags(spec["command"][1:]))
    assert spec["command"][:2] == container_command()[:2]  # the image's program and app
    (port,) = spec["ports"]
    assert config.binds == (f"0.0.0.0:{port['containerPort']}",)
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert spec[kind]["httpGet"]["port"] == port["name"]
    (service_port,) = manifest()["Service"]["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert (
        manifest()["Service"]["spec"]["selector"]
        == manifest()["Deployment"]["spec"]["selector"]["matchLabels"]
    )
    assert pod()["securityContext"]["runAsUser"] == int(docker("USER")[0])


def test_the_grace_period_covers_the_pre_stop_sleep_and_the_shutdown() -> None:
    spec = container()
    config = tapster_config(without_unknown_flags(spec["command"][1:]))
    sleep, seconds = spec["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep"
    # The grace period runs from the preStop hook's start: SIGTERM comes after the sleep.
    assert pod()["terminationGracePeriodSeconds"] > int(seconds) + config.shutdown_timeout
    assert config.shutdown_timeout == 25


def test_the_workers_fit_in_the_memory_limit() -> None:
    argv = container()["command"]
    limit = container()["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    workers, rss = int(flag_value(argv, "--workers")), int(flag_value(argv, "--worker-max-rss"))
    assert workers * rss < int(limit.removesuffix("Mi"))


@whole_command
def test_the_whole_pod_command_parses() -> None:
    config = tapster_config(container()["command"][1:])
    fields = dataclasses.asdict(config)
    assert (fields["workers"], fields["worker_max_rss"]) == (2, 200)
