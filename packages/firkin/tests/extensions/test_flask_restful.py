"""Flask-RESTful on firkin, unpatched: resources with sync methods, `reqparse` on a JSON body,
`marshal_with`, its own error answers (`abort` with a message, a 500 in JSON), and its error
router, which replaces `app.handle_exception` and `app.handle_user_exception` and hands errors
outside its resources back to firkin's (async) originals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from firkin import Firkin
from flask_restful import Api, Resource, abort, fields, marshal_with, reqparse

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    api = Api(app)
    todos: dict[str, dict[str, str]] = {"1": {"task": "write tests"}}
    parser = reqparse.RequestParser()
    parser.add_argument("task", type=str, required=True, location="json")
    counter = reqparse.RequestParser()
    counter.add_argument("n", type=int, required=True, location="json")

    class Todo(Resource):  # (Flask-RESTful is untyped: pyproject.toml relaxes this module)
        def get(self, todo_id: str) -> Any:
            if todo_id not in todos:
                abort(404, message=f"Todo {todo_id} doesn't exist")
            return todos[todo_id]

        def put(self, todo_id: str) -> Any:
            todos[todo_id] = {"task": parser.parse_args()["task"]}
            return todos[todo_id], 201

    class Count(Resource):
        @marshal_with({"n": fields.Integer, "uri": fields.Url("count")})
        def post(self) -> Any:
            return {"n": counter.parse_args()["n"]}

    class Broken(Resource):
        def get(self) -> Any:
            raise RuntimeError("broken resource")

    api.add_resource(Todo, "/todos/<todo_id>")
    api.add_resource(Count, "/count", endpoint="count")
    api.add_resource(Broken, "/broken")

    @app.get("/plain")
    async def plain() -> str:
        raise RuntimeError("broken view")

    return app


@anyio
async def test_resources_parse_and_marshal() -> None:
    client = make_app().test_client()
    response = await client.get("/todos/1")
    assert (response.status_code, await response.get_json()) == (200, {"task": "write tests"})
    response = await client.put("/todos/2", json={"task": "ship"})
    assert (response.status_code, await response.get_json()) == (201, {"task": "ship"})
    assert await (await client.get("/todos/2")).get_json() == {"task": "ship"}
    response = await client.post("/count", json={"n": 3})
    assert await response.get_json() == {"n": 3, "uri": "/count"}


@anyio
async def test_its_errors_in_its_resources() -> None:
    client = make_app().test_client()
    response = await client.get("/todos/9")
    assert response.status_code == 404
    assert await response.get_json() == {"message": "Todo 9 doesn't exist"}
    response = await client.put("/todos/3", json={})  # reqparse: "task" is required
    assert response.status_code == 400
    assert "task" in (await response.get_json())["message"]
    response = await client.post("/count", json={"n": "three"})
    assert response.status_code == 400
    response = await client.get("/broken")
    assert response.status_code == 500
    assert await response.get_json() == {"message": "Internal Server Error"}


@anyio
async def test_errors_elsewhere_go_back_to_firkin() -> None:
    # Flask-RESTful's router calls the original handler, a coroutine function here: its coroutine
    # comes back from the router's worker thread and is awaited.
    client = make_app().test_client()
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<title>404 Not Found</title>" in await response.get_data(as_text=True)
    response = await client.get("/plain")
    assert response.status_code == 500
    assert "<title>500 Internal Server Error</title>" in await response.get_data(as_text=True)


def test_flask_restful_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        assert client.put("/todos/5", json={"task": "deploy"}).status_code == 201
        assert client.get("/todos/5").json() == {"task": "deploy"}
        missing = client.get("/todos/404")
        assert (missing.status_code, missing.json()) == (404, {"message": "Todo 404 doesn't exist"})
        assert client.get("/nowhere").status_code == 404
