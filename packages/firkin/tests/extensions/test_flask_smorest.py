"""flask-smorest on firkin, unpatched: a REST API with marshmallow schemas. `@blp.arguments` reads
the JSON body and the query through webargs (Flask's sync request API, in a worker thread),
`@blp.response` serializes, validation errors come back as its 422, and the OpenAPI document is
served."""

from __future__ import annotations

from typing import Any

import httpx
import marshmallow as ma
import pytest
from firkin import Firkin
from flask.views import MethodView
from flask_smorest import Api, Blueprint, abort

from conftest import ServeFactory

anyio = pytest.mark.anyio


class PetSchema(ma.Schema):
    id = ma.fields.Int(dump_only=True)
    name = ma.fields.Str(required=True)


class PetQuery(ma.Schema):
    name = ma.fields.Str()


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.config.update(
        API_TITLE="Pets",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.2",
        OPENAPI_URL_PREFIX="/",
    )
    api = Api(app)
    pets = Blueprint("pets", __name__, url_prefix="/pets")
    store: list[dict[str, Any]] = []

    @pets.route("/")
    class Pets(MethodView):
        @pets.arguments(PetQuery, location="query")
        @pets.response(200, PetSchema(many=True))
        def get(self, query: dict[str, str]) -> list[dict[str, Any]]:
            return [pet for pet in store if query.get("name") in (None, pet["name"])]

        @pets.arguments(PetSchema)
        @pets.response(201, PetSchema)
        def post(self, pet: dict[str, Any]) -> dict[str, Any]:
            pet["id"] = len(store) + 1
            store.append(pet)
            return pet

    @pets.route("/<int:pet_id>")
    class OnePet(MethodView):
        @pets.response(200, PetSchema)
        def get(self, pet_id: int) -> dict[str, Any]:
            if not 0 < pet_id <= len(store):
                abort(404, message="no such pet")
            return store[pet_id - 1]

    api.register_blueprint(pets)
    return app


@anyio
async def test_arguments_responses_and_errors() -> None:
    client = make_app().test_client()
    created = await client.post("/pets/", json={"name": "rex"})
    assert (created.status_code, await created.get_json()) == (201, {"id": 1, "name": "rex"})
    await client.post("/pets/", json={"name": "tom"})
    assert await (await client.get("/pets/?name=tom")).get_json() == [{"id": 2, "name": "tom"}]
    assert len(await (await client.get("/pets/")).get_json()) == 2
    invalid = await client.post("/pets/", json={"nom": "x"})
    assert invalid.status_code == 422
    assert (await invalid.get_json())["errors"]["json"] == {
        "name": ["Missing data for required field."],
        "nom": ["Unknown field."],
    }
    missing = await client.get("/pets/9")
    assert (missing.status_code, (await missing.get_json())["message"]) == (404, "no such pet")


@anyio
async def test_the_openapi_document() -> None:
    spec = await (await make_app().test_client().get("/openapi.json")).get_json()
    assert spec["info"] == {"title": "Pets", "version": "v1"}
    assert set(spec["paths"]) == {"/pets/", "/pets/{pet_id}"}
    assert "Pet" in spec["components"]["schemas"]


def test_flask_smorest_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        assert client.post("/pets/", json={"name": "rex"}).status_code == 201
        assert client.get("/pets/1").json() == {"id": 1, "name": "rex"}
        assert client.post("/pets/", json={}).status_code == 422
