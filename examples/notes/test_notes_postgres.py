"""The notes example on a real PostgreSQL server (Debian's `postgresql` package; ./dev test installs
it): a throwaway cluster made with initdb in a temporary folder, run by `postgres` itself on a free
port (and a unix socket in that folder), as an unprivileged user when the tests run as root (the
server refuses to run as root), and stopped at the end. Without PostgreSQL these tests fail, saying
what to install: they are the only ones that show the app on it.

The app in this process through the test client (asyncio and trio), `firkin run` in a process of its
own, sign-ups racing for one name, and a server that goes away and comes back."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from firkin import Firkin
from firkin.testing.connections import WebsocketResponseError

from conftest import Process, free_port
from examples.notes.conftest import PASSWORD, csrf, make_app, member, session_over, token_in
from examples.notes.database import Database, open_database

STOP_TIMEOUT = 10  # seconds for the server to stop


def postgres_program(name: str) -> str:
    """One of PostgreSQL's server programs. Debian keeps them off the PATH, in
    /usr/lib/postgresql/<major version>/bin; the newest version installed is used."""
    found = shutil.which(name) or max(
        glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda path: int(Path(path).parts[4]), default=None
    )
    if found is None:
        pytest.fail(
            f"PostgreSQL's {name} is not installed: `apt-get install postgresql` (./dev test does)",
            pytrace=False,
        )
    return found


class PostgresServer:
    """A PostgreSQL cluster of the test's own in a temporary folder (made with initdb, trust
    authentication for the `postgres` user, no fsync), listening on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="notes-postgres-"))
        self.port = free_port()
        self.process: Process | None = None
        # The server refuses to run as root: as root, run it (and initdb) as nobody, who owns the folder.
        self.as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)
            self.as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        initdb = [postgres_program("initdb"), "--pgdata", str(self.folder / "data"), "--username", "postgres"]
        initdb += ["--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"]
        made = Process(initdb, ready="Success", cwd=self.folder, **self.as_user)
        made.popen.wait(STOP_TIMEOUT)
        assert made.stop() == 0, made.output()

    def start(self) -> None:
        args = [postgres_program("postgres"), "-D", str(self.folder / "data"), "-p", str(self.port)]
        args += ["-h", "127.0.0.1", "-k", str(self.folder), "-F"]
        self.process = Process(
            args, ready="database system is ready to accept connections", cwd=self.folder, **self.as_user
        )

    def stop(self) -> None:
        """A fast shutdown (SIGINT: open sessions are ended; SIGTERM would wait for the app's pool)."""
        if self.process is not None:
            self.process.popen.send_signal(signal.SIGINT)
            self.process.popen.wait(STOP_TIMEOUT)
            assert self.process.stop() == 0, self.process.output()
            self.process = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


_databases = iter(range(1, sys.maxsize))


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    """A new, empty database on the module's server."""
    return postgres.create_database(f"notes_{next(_databases)}")


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_a_missing_postgresql_program_fails_saying_what_to_install() -> None:
    message = r"PostgreSQL's pg_nothing is not installed: `apt-get install postgresql` \(./dev test does\)"
    with pytest.raises(pytest.fail.Exception, match=message):
        postgres_program("pg_nothing")


@pytest.mark.anyio
async def test_the_app_on_postgresql(database_url: str, tmp_path: Path) -> None:
    app = make_app(tmp_path / "instance", DATABASE_URL=database_url, NOTES_PER_PAGE=2)
    async with app.test_app() as served:
        assert app.extensions["notes.database"].dialect == "postgresql"
        assert tables(database_url) == {"users", "notes"}  # made on first run
        assert not (tmp_path / "instance").exists()  # no SQLite file
        client = served.test_client()
        assert (await client.get("/health")).json == {"status": "ok", "database": "postgresql"}
        token = await member(client, "alice")
        async with client.websocket("/api/live") as feed:
            assert (await feed.receive_json())["type"] == "ready"
            page = token_in((await client.get("/notes/new")).text)
            assert (
                await client.post("/notes/new", form={"csrf_token": page, "title": "first"})
            ).status_code == 302
            for title in ("second", "third"):
                response = await client.post(
                    "/api/notes", json={"title": title}, headers={"X-CSRFToken": token}
                )
                assert response.status_code == 201
            assert [(await feed.receive_json())["note"]["title"] for _ in range(3)] == [
                "first",
                "second",
                "third",
            ]
        listed = (await client.get("/api/notes")).json
        assert ([n["title"] for n in listed["notes"]], listed["total"]) == (["third", "second"], 3)
        assert listed["notes"][0]["created"].endswith("+00:00")
        updated = await client.put("/api/notes/1", json={"title": "First!"}, headers={"X-CSRFToken": token})
        assert updated.json["updated"] > updated.json["created"]
        assert (await client.delete("/api/notes/2", headers={"X-CSRFToken": token})).status_code == 204
        export = await client.get("/api/notes/export")
        assert [line.split(",")[:2] for line in export.text.splitlines()[1:]] == [
            ["1", "First!"],
            ["3", "third"],
        ]

        bob = app.test_client()
        await member(bob, "bob")
        assert (await bob.get("/api/notes/1")).status_code == 404
        assert (await signup_taken(app)) == "That user name is taken. Choose another."
    with psycopg.connect(database_url) as connection:
        hashes = connection.execute("SELECT username, password_hash FROM users ORDER BY id").fetchall()
    assert [name for name, _ in hashes] == ["alice", "bob"]
    assert all(PASSWORD not in hashed and hashed.startswith("pbkdf2:") for _, hashed in hashes)


async def signup_taken(app: Firkin) -> str:
    client = app.test_client()
    token = await csrf(client)
    form = {"csrf_token": token, "username": "alice", "password": PASSWORD, "confirm": PASSWORD}
    response = await client.post("/signup", form=form)
    assert response.status_code == 400
    return (
        "That user name is taken. Choose another."
        if "That user name is taken" in response.text
        else response.text
    )


def test_firkin_run_on_postgresql(database_url: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url}
    args = [sys.executable, "-m", "firkin", "--app", "examples.notes.app:app", "run", "--port", "0"]
    process = Process(args, ready=r"Running on (http://127\.0\.0\.1:\d+)", env=env)
    try:
        url = process.ready.group(1)
        session_over(url, "alice")
        with httpx.Client(base_url=url) as http:
            assert http.get("/health").json() == {"status": "ok", "database": "postgresql"}
    finally:
        status = process.stop()
    assert status == 0, process.output()
    assert "Traceback" not in process.output(), process.output()
    with psycopg.connect(database_url) as connection:
        assert connection.execute("SELECT title FROM notes").fetchall() == [("changed",)]


def test_sign_ups_racing_for_one_name(database_url: str, tmp_path: Path) -> None:
    """The unique index decides: of eight threads adding one name at once, one wins."""
    app = make_app(tmp_path, DATABASE_URL=database_url, NOTES_DB_POOL_SIZE=8)
    database = open_database(app)
    database.create_tables()
    start = threading.Barrier(8)
    results: list[object] = []

    def sign_up(number: int) -> None:
        start.wait()
        results.append(database.add_user("racer", f"hash {number}"))

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(STOP_TIMEOUT)
    database.dispose()
    assert len(results) == 8
    assert sum(result is not None for result in results) == 1


@pytest.mark.anyio
async def test_the_app_says_503_while_postgresql_is_away_and_recovers(tmp_path: Path) -> None:
    server = PostgresServer()
    try:
        server.start()
        url = server.create_database("notes")
        app = make_app(tmp_path, DATABASE_URL=url)
        async with app.test_app() as served:
            client = served.test_client()
            token = await member(client, "alice")
            await anyio.to_thread.run_sync(server.stop)

            health = await app.test_client().get("/health")  # a monitor's request: no session
            assert (health.status_code, health.json) == (
                503,
                {"status": "unavailable", "database": "postgresql"},
            )
            api = await client.get("/api/notes")
            assert (api.status_code, api.headers["Retry-After"]) == (503, "1")
            assert api.json["message"] == "The database is unavailable. Try again in a moment."
            page = await client.get("/")
            assert (page.status_code, page.mimetype) == (503, "text/html")
            with pytest.raises(WebsocketResponseError) as refused:
                async with client.websocket("/api/live") as feed:
                    await feed.receive()
            assert refused.value.response.status_code == 503

            await anyio.to_thread.run_sync(server.start)
            # The pool's connections died with the server: each is checked before use
            # (pool_pre_ping) and replaced, so the first request after the restart works.
            assert (await app.test_client().get("/health")).status_code == 200
            created = await client.post("/api/notes", json={"title": "back"}, headers={"X-CSRFToken": token})
            assert created.status_code == 201
    finally:
        await anyio.to_thread.run_sync(server.remove)


def test_a_database_made_by_hand_works_too(database_url: str, tmp_path: Path) -> None:
    """`create-user` makes the tables when the server has not run yet."""
    app = make_app(tmp_path, DATABASE_URL=database_url)
    result = app.test_cli_runner().invoke(args=["create-user", "admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    database = app.extensions["notes.database"]
    assert isinstance(database, Database)
    record = database.user_by_name("admin")
    database.dispose()
    assert record is not None
    assert tables(database_url) == {"users", "notes"}
