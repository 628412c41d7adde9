"""Gateway routes with an in-memory page source (the Cassandra-backed one is covered in tests/integration)."""

from __future__ import annotations

import falcon
import falcon.testing
import jsonschema
import pytest
from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.openapi import openapi_document
from shared.config import Settings
from shared.storage.cassandra import StorageUnavailable
from shared.storage.pages import PageNotFound

PAGE = {"page_id": "S03-P0042", "page_number": 42, "title": "A title", "text": "Text of 42.", "section": 3,
        "character": "glyph-marrow", "character_name": "Glyph Marrow", "colour": "#00A2FF", "max_page_number": 710}
HYDRATED = {**PAGE, "symbol_code": 32, "orientation": "X", "provenance": "C", "trajectory": "T0",
            "edges": {"next": "S03-P0043", "loop_back_to": None, "forks": [], "mirrors": []}, "index_signals": {}}


class BookInMemory:
    """The PageSource protocol over a dict: enough to exercise routing, parsing and error mapping."""

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.closed = False

    async def by_number(self, number):
        if self.fail:
            raise self.fail
        if number != 42:
            raise PageNotFound(f"no page {number}; the book has pages 1..710")
        return PAGE

    async def by_id(self, page_id):
        if page_id != "S03-P0042":
            raise PageNotFound(f"no page with id {page_id}")
        return HYDRATED

    async def close(self):
        self.closed = True


@pytest.fixture
def client():
    return falcon.testing.TestClient(create_app(Settings(), health_checks=(), pages=BookInMemory()))


def _schema(name):
    doc = openapi_document()
    return {**doc["components"]["schemas"][name], "components": doc["components"]}


def _valid(instance, name):
    jsonschema.validate(instance, _schema(name), cls=jsonschema.Draft202012Validator)


ROUTES = {"/health", "/pages/{number}", "/api/v1/page/{page_id}", "/api/v1/qdpi/characters",
          "/api/v1/qdpi/manifest", "/api/v1/event/ui/symbol", "/api/v1/event/stream",
          "/api/v1/pipeline/run/symbol/{code}", "/api/v1/branch/{page_id}",
          "/api/v1/pipeline/stats/section/{section}", "/api/v1/retrieve", "/openapi.json",
          "/api/v1/users/{user_id}/credits", "/api/v1/users/{user_id}/ledger.csv", "/api/v1/credits/gift",
          "/api/v1/vault", "/api/v1/chat", "/api/v1/ask", "/api/v1/summaries",
          "/api/v1/summaries/{cluster_id}"}


def test_openapi_document_is_valid_and_describes_every_route(client):
    resp = client.get("/openapi.json")
    assert resp.status == falcon.HTTP_200
    validate(resp.json)
    assert set(resp.json["paths"]) == ROUTES
    app = client.app
    for path in ROUTES:  # and every described path is really routed
        concrete = path.replace("{", "").replace("}", "")
        assert app._router.find(concrete) is not None, path


def test_page_by_number(client):
    resp = client.get("/pages/42")
    assert resp.status == falcon.HTTP_200
    assert resp.json == PAGE
    _valid(resp.json, "Page")


def test_hydrated_page(client):
    resp = client.get("/api/v1/page/S03-P0042")
    assert resp.status == falcon.HTTP_200
    _valid(resp.json, "HydratedPage")


@pytest.mark.parametrize("path, status, detail", [
    ("/pages/711", falcon.HTTP_404, "no page 711; the book has pages 1..710"),
    ("/pages/0", falcon.HTTP_404, "no page 0; the book has pages 1..710"),
    ("/pages/forty-two", falcon.HTTP_422, "page number must be a positive whole number, got 'forty-two'"),
    ("/pages/-3", falcon.HTTP_422, "page number must be a positive whole number, got '-3'"),
    ("/pages/99999999999999", falcon.HTTP_422, "page number must be a positive whole number"),
    ("/pages/%C2%B2", falcon.HTTP_422, "page number must be a positive whole number, got '²'"),
    ("/pages/%E2%91%A0", falcon.HTTP_422, "page number must be a positive whole number, got '①'"),
    ("/pages/%D9%A4%D9%A2", falcon.HTTP_422, "page number must be a positive whole number, got '٤٢'"),
    ("/api/v1/page/S03-P9999", falcon.HTTP_404, "no page with id S03-P9999"),
    ("/api/v1/page/page-42", falcon.HTTP_422, "'page-42' is not a canon id like S01-P0007 or a branch UUID"),
    ("/api/v1/page/S17-P0001", falcon.HTTP_422, "is not a canon id"),
])
def test_errors_are_json_with_the_reason(client, path, status, detail):
    resp = client.get(path)
    assert resp.status == status
    _valid(resp.json, "Error")
    assert detail in resp.json["detail"]


def test_store_down_is_503_without_internals():
    app = create_app(Settings(), health_checks=(),
                     pages=BookInMemory(fail=StorageUnavailable("Cassandra at 10.0.0.7:9042 is not reachable")))
    resp = falcon.testing.TestClient(app).get("/pages/1")
    assert resp.status == falcon.HTTP_503
    assert "10.0.0.7" not in resp.text
    assert resp.json["detail"] == "the page store is not answering; try again shortly"


@pytest.mark.parametrize("path, schema_check", [
    ("/api/v1/qdpi/characters", lambda body: len(body["characters"]) == 16),
    ("/api/v1/qdpi/manifest", lambda body: len(body["symbols"]) == 256 and body["symbols"][0]["notation"] == "XC"),
])
def test_qdpi_documents_have_an_etag_and_revalidate(client, path, schema_check):
    first = client.get(path)
    assert first.status == falcon.HTTP_200 and schema_check(first.json)
    etag = first.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status == falcon.HTTP_304
    assert again.content == b""
    stale = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status == falcon.HTTP_200


def test_characters_carry_colours(client):
    chars = client.get("/api/v1/qdpi/characters").json["characters"]
    for c in chars:
        _valid(c, "Character")
    assert chars[0]["colour"] == "#34FF78" and chars[15]["id"] == "the-author"


def test_cors_preflight_is_allowed(client):
    resp = client.simulate_options("/pages/42", headers={
        "Origin": "http://reader.example", "Access-Control-Request-Method": "GET"})
    assert resp.headers.get("access-control-allow-origin") == "*"
    assert "GET" in resp.headers.get("access-control-allow-methods", "")


@pytest.mark.parametrize("query, detail", [
    ("", "q: the query is empty"),
    ("q=%20%20", "q: the query is empty"),
    ("q=" + "x" * 501, "at most 500"),
    ("q=tower&k=0", "k: must be a whole number 1..50"),
    ("q=tower&k=many", "k: must be a whole number"),
    ("q=tower&section=17", "section: must be 1..16"),
    ("q=tower&character=nobody", "character: unknown character id 'nobody'"),
])
def test_retrieve_refuses_bad_queries_before_any_rpc(client, query, detail):
    resp = client.get("/api/v1/retrieve", query_string=query)
    assert resp.status == falcon.HTTP_422
    assert detail in resp.json["detail"]


@pytest.mark.parametrize("method, path, error, detail", [
    ("GET", "/nope", "Not Found", "no resource at /nope"),
    ("DELETE", "/pages/1", "Method Not Allowed", "DELETE is not allowed on /pages/1; allowed: GET"),
])
def test_falcons_own_errors_say_what_was_asked(client, method, path, error, detail):
    resp = client.simulate_request(method, path)
    _valid(resp.json, "Error")
    assert resp.json["error"] == error
    assert detail in resp.json["detail"]
