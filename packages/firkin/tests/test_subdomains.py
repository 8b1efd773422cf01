"""Subdomains under nested blueprints, as a Quart app sees them: a route or blueprint registered for a
subdomain matches on that subdomain of SERVER_NAME without `subdomain_matching=True` (Flask needs the
flag; Quart does not), nested subdomains join (`v1` under `api` is `v1.api`), and URLs are built for
them. The expectations were taken from Quart 0.22 running the same apps."""

from __future__ import annotations

import pytest
from firkin import Blueprint, Firkin, request, url_for, websocket
from firkin.routing import FirkinMap, FirkinRule, has_subdomain_rules
from werkzeug.routing import Map

pytestmark = pytest.mark.anyio


def make_app(subdomain_matching: bool = False, server_name: str | None = "example.com") -> Firkin:
    app = Firkin(__name__, subdomain_matching=subdomain_matching)
    app.config["SERVER_NAME"] = server_name
    parent = Blueprint("parent", __name__, subdomain="api")
    child = Blueprint("child", __name__, subdomain="v1")
    inherits = Blueprint("inherits", __name__)
    seen: list[str] = []
    app.extensions["seen"] = seen

    @app.route("/")
    async def root() -> str:
        return "root"

    @parent.route("/p")
    async def p() -> str:
        return "parent"

    @child.route("/c")
    async def c() -> str:
        return "child"

    @child.route("/urls")
    async def urls() -> str:
        return " ".join(
            (
                url_for("parent.child.c"),
                url_for(".c", _external=True),
                url_for("parent.p", _external=True),
                url_for("root"),
            )
        )

    @child.before_request
    async def child_hook() -> None:
        seen.append(f"child {request.blueprints}")

    @parent.before_request
    async def parent_hook() -> None:
        seen.append("parent")

    @inherits.route("/i")
    async def i() -> str:
        return "inherits"

    @child.websocket("/ws")
    async def ws() -> None:
        await websocket.send(f"{websocket.host} {websocket.blueprints}")

    parent.register_blueprint(child, url_prefix="/child")
    parent.register_blueprint(inherits)
    app.register_blueprint(parent)
    return app


@pytest.mark.parametrize("subdomain_matching", [False, True])
async def test_nested_blueprint_subdomains_match_without_the_flag(subdomain_matching: bool) -> None:
    client = make_app(subdomain_matching).test_client()
    cases = [
        (None, "/", 200, "root"),
        ("api", "/p", 200, "parent"),
        ("v1.api", "/child/c", 200, "child"),
        ("api", "/i", 200, "inherits"),  # a child without a subdomain of its own has its parent's
        ("api", "/child/c", 404, None),
        ("v1", "/child/c", 404, None),
        (None, "/p", 404, None),
        ("api", "/", 404, None),  # the app's routes are on the default subdomain only
    ]
    for subdomain, path, status, body in cases:
        response = await client.get(path, subdomain=subdomain)
        assert response.status_code == status, (subdomain, path)
        if body is not None:
            assert await response.get_data(as_text=True) == body


async def test_urls_are_built_for_the_nested_subdomains() -> None:
    response = await make_app().test_client().get("/child/urls", subdomain="v1.api")
    assert await response.get_data(as_text=True) == (
        "/child/c http://v1.api.example.com/child/c http://api.example.com/p http://example.com/"
    )


async def test_hooks_of_each_nested_blueprint_run_on_its_subdomain() -> None:
    app = make_app()
    response = await app.test_client().get("/child/c", subdomain="v1.api")
    assert response.status_code == 200
    assert app.extensions["seen"] == ["parent", "child ['parent.child', 'parent']"]


async def test_a_websocket_under_nested_subdomains() -> None:
    async with make_app().test_client().websocket("/child/ws", subdomain="v1.api") as ws:
        assert await ws.receive() == "v1.api.example.com ['parent.child', 'parent']"


async def test_a_subdomain_given_at_registration_wins() -> None:
    app = Firkin(__name__)
    app.config["SERVER_NAME"] = "example.com"
    parent = Blueprint("parent", __name__, subdomain="api")
    child = Blueprint("child", __name__, subdomain="v1")

    @child.route("/c")
    async def c() -> str:
        return "child"

    parent.register_blueprint(child, subdomain="v2")
    app.register_blueprint(parent)
    client = app.test_client()
    assert (await client.get("/c", subdomain="v2.api")).status_code == 200
    assert (await client.get("/c", subdomain="v1.api")).status_code == 404


async def test_with_subdomain_routes_a_host_outside_server_name_is_not_found() -> None:
    client = make_app().test_client()
    response = await client.get("/", headers={"Host": "elsewhere.org"})
    assert response.status_code == 404  # as in Quart (and Flask with subdomain_matching=True)


async def test_without_subdomain_routes_any_host_is_served() -> None:
    """Flask 3.1's rule, kept on purpose: SERVER_NAME does not restrict which hosts are served
    (Quart answers 404 to a host outside it, and warns)."""
    app = Firkin(__name__)
    app.config["SERVER_NAME"] = "example.com"

    @app.route("/")
    async def root() -> str:
        return request.host

    client = app.test_client()
    for host in ("example.com", "www.example.com", "elsewhere.org"):
        response = await client.get("/", headers={"Host": host})
        assert await response.get_data(as_text=True) == host


async def test_without_server_name_subdomain_routes_never_match() -> None:
    client = make_app(server_name=None).test_client()
    assert (await client.get("/p", headers={"Host": "api.localhost"})).status_code == 404
    assert (await client.get("/")).status_code == 200


def test_the_map_notices_subdomain_rules_added_later() -> None:
    url_map = FirkinMap([FirkinRule("/", endpoint="root")])
    assert not url_map.has_subdomain_rules
    url_map.add(FirkinRule("/x", endpoint="x", subdomain="api"))
    assert url_map.has_subdomain_rules
    assert has_subdomain_rules(Map([FirkinRule("/x", endpoint="x", subdomain="api")]))
    www = Map([FirkinRule("/", endpoint="root")], default_subdomain="www")
    assert not has_subdomain_rules(www)  # the default subdomain is not "a subdomain rule"
