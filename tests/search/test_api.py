"""``GET /search`` in the real app (``api.app.create_app``) on a home whose catalog holds the two
generated cases and whose embedded index holds their pages: the HTTP search gives each principal
exactly what ``juanzong search --as`` gives (one ``search_as``), and refuses what it must."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archive.catalog import session
from archive.catalog.record import upsert_case
from config.settings import Settings
from dissemination.search.base import IndexPage
from dissemination.search.embedded import EmbeddedIndex
from dissemination.search_access import search_as
from api.app import create_app
from api.reading import add_principal
from ingest.manifest import read_manifest
from tests.search.corpus import batch_of


@dataclass(frozen=True)
class Api:
    client: TestClient
    settings: Settings
    service_key: str
    archivist_key: str
    party: str  # ``as`` of a natural-person party of case 0
    case: str
    other: str


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, corpus_out: Path, pages: list[IndexPage]) -> Api:
    settings = Settings(home=tmp_path_factory.mktemp("search-api") / "home")
    manifest = read_manifest(batch_of(corpus_out))
    with session(settings.catalog_url) as s:
        for case in manifest.cases:
            upsert_case(s, case)
        s.commit()
    assert settings.index_path is not None
    assert not EmbeddedIndex(settings.index_path).index_pages(pages).errors
    case, other = manifest.cases[0], manifest.cases[1]
    person = next(p for p in case.parties if p.id_number)
    assert all(person.id_number != p.id_number for p in other.parties)
    return Api(client=TestClient(create_app(settings)), settings=settings,
               service_key=add_principal(settings.catalog_url, "weifayuan", kind="service",
                                         roles=["reading-service"]),
               archivist_key=add_principal(settings.catalog_url, "li", kind="archivist", roles=["archivist"]),
               party=f"party:{person.id_number}", case=case.case_number, other=other.case_number)


def get(api: Api, key: str | None, **params) -> tuple[int, dict]:
    r = api.client.get("/search", params=params, headers={"X-API-Key": key} if key else {})
    return r.status_code, r.json()


def keys(body: dict) -> set[str]:
    return {f"{h['document_id']}:{h['page']}" for h in body["hits"]}


def test_party_sees_only_disclosable_main_volume_pages_of_own_case(api: Api, pages: list[IndexPage]) -> None:
    visible = {p.key for p in pages if p.case_number == api.case and p.volume == "正卷" and p.disclosable}
    assert visible != {p.key for p in pages if p.case_number == api.case}, "case 0 should hide pages"
    status, body = get(api, api.service_key, q="", **{"as": api.party}, size=100)
    assert status == 200 and body["total"] == len(visible) and keys(body) == visible
    status, body = get(api, api.service_key, q="原告", **{"as": api.party}, size=100)
    assert status == 200 and {h["case_number"] for h in body["hits"]} == {api.case}
    status, body = get(api, api.service_key, q="", case=api.other, **{"as": api.party})
    assert status == 200 and body["total"] == 0


def test_http_and_cli_give_the_same_hits(api: Api) -> None:
    """Both call ``search_as``; this pins the HTTP parameters to the CLI's meaning."""
    for as_ in (api.party, None):
        key = api.service_key if as_ else api.archivist_key
        expected = search_as(api.settings, "原告", as_, size=5, offset=2)
        status, body = get(api, key, q="原告", size=5, offset=2, **({"as": as_} if as_ else {}))
        assert status == 200 and body == expected.model_dump(mode="json")


def test_archivist_sees_every_page(api: Api, pages: list[IndexPage]) -> None:
    status, body = get(api, api.archivist_key, q="", size=1)
    assert status == 200 and body["total"] == len(pages)
    secret = [p for p in pages if p.volume == "副卷"]
    status, body = get(api, api.archivist_key, q="评议", size=100)
    assert status == 200 and {p.key for p in secret} <= keys(body)


@pytest.mark.parametrize("key", [None, "not-a-key"])
def test_missing_or_unknown_key_is_refused(api: Api, key: str | None) -> None:
    status, body = get(api, key, q="原告")
    assert status == 401 and body["error"]["code"] == "E515"


@pytest.mark.parametrize("as_", [None, "archivist:li", "auditor:x"])
def test_reading_service_must_search_as_a_reader(api: Api, as_: str | None) -> None:
    status, body = get(api, api.service_key, q="原告", **({"as": as_} if as_ else {}))
    assert status == 403 and body["error"]["code"] == "E509"


@pytest.mark.parametrize("params, code", [
    ({"q": "原告", "size": 0}, "E155"), ({"q": "原告", "size": 101}, "E155"),
    ({"q": "原告", "offset": -1}, "E155"), ({"q": "原告", "offset": 9_901}, "E155"),
    ({"q": "原告", "size": "ten"}, "E155"), ({}, "E155"), ({"q": "x" * 201}, "E155"),
    ({"q": "原告", "as": "judge:1"}, "E504"),
])
def test_bad_parameters_give_a_json_error_with_a_stable_code(api: Api, params: dict, code: str) -> None:
    status, body = get(api, api.archivist_key, **params)
    assert status == 422 and body["error"]["code"] == code, body


def test_generated_requests_never_give_a_server_error(api: Api) -> None:
    """Schemathesis, from the route's own OpenAPI: positive and negative requests, each with the
    archivist's key, the service's key and none, answer below 500 and errors in our shape."""
    schemathesis = pytest.importorskip("schemathesis")
    from fastapi import FastAPI
    from hypothesis import HealthCheck, given, settings as hsettings

    from api.search import search_router

    app = FastAPI()
    app.include_router(search_router(api.settings))
    operation = next(iter(schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations())).ok()
    mode = schemathesis.GenerationMode

    @given(case=operation.as_strategy(generation_mode=mode.POSITIVE)
           | operation.as_strategy(generation_mode=mode.NEGATIVE))
    @hsettings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        for key in (api.archivist_key, api.service_key, None):
            response = case.call(headers={"X-API-Key": key} if key else None)
            assert response.status_code < 500, (case.query, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["code"], (case.query, response.text)

    run()


def test_unreachable_elasticsearch_is_503_not_a_crash(api: Api) -> None:
    """With the cluster down the search is unavailable, not broken: 503 with E603 over HTTP, and
    the CLI's function raises the same coded error (exit 1) instead of a transport traceback."""
    import socket

    from schemas.errors import Unavailable

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = api.settings.model_copy(update={"index_backend": "elasticsearch", "es_url": f"http://127.0.0.1:{port}"})
    client = TestClient(create_app(down))
    r = client.get("/search", params={"q": "原告"}, headers={"X-API-Key": api.archivist_key})
    assert r.status_code == 503 and r.json()["error"]["code"] == "E603", r.text
    with pytest.raises(Unavailable) as caught:
        search_as(down, "原告", None)
    assert caught.value.code == "E603" and caught.value.exit_code == 1
