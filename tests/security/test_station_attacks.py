"""The station-side attacker's cases of issue 14 as one matrix: route x key x request -> the
status and stable code the station API must answer. Every cell is asked of the real router
(the ingest behind it is the intake test backend: these cases are all refused before ingest),
and no answer is a 500 or shows a path of the server.

Cases that need the real ingest flow (another station's case, 副卷 made disclosable, a title
longer than the schema allows) are in tests/archive_ops/test_case_changes.py and
tests/ingest/test_validate_metadata.py; poison batches in tests/intake/test_poison.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.stations import add_station, station_router
from config.settings import Settings
from tests.intake.conftest import ManifestIngest, signing_station

OWN, OTHER = "GZZY-SM06", "GZZY-SM03"
DEEP = 5_000


def _manifest(batch_id: str, station: str = OWN, **extra) -> bytes:
    return json.dumps({"manifest_version": "1.0", "batch_id": batch_id, "station_id": station,
                       "files": [], **extra}).encode()


def _nested(levels: int) -> bytes:
    """A manifest whose one unknown field nests ``levels`` lists deep."""
    return b'{"batch_id": "x", "station_id": "%s", "deep": ' % OWN.encode() + b"[" * levels + b"]" * levels + b"}"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass(frozen=True)
class Attack:
    """One cell: what the station sends (after ``before`` requests) and what it must get."""

    route: str  # method and path template, for the reader of the table
    key: str  # whose key: own | other | none | forged
    send: Callable[[TestClient, dict], object]
    status: int
    code: str
    before: tuple[tuple[str, bytes], ...] = ()  # files uploaded first (path, body) to OWN's batch


def _post(path: str, body: bytes, **headers: str) -> Callable[[TestClient, dict], object]:
    return lambda client, h: client.post(path, content=body, headers={**h, **headers})


def _get(path: str) -> Callable[[TestClient, dict], object]:
    return lambda client, h: client.get(path, headers=h)


B = f"{OWN}-20240424-001"
THEIRS = f"{OTHER}-20240424-001"
ATTACKS: dict[str, Attack] = {
    # item 4: batch ids are scoped by station
    "upload into another station's batch id": Attack(
        "POST /batches/{id}/files/{path}", "own", _post(f"/batches/{THEIRS}/files/a.pdf", b"x"), 422, "E157"),
    "zip naming another station's batch id": Attack(
        "POST /batches", "own", _post("/batches", _zip({"manifest.json": _manifest(THEIRS)})), 422, "E157"),
    "commit whose manifest names another batch id": Attack(
        "POST /batches/{id}/commit", "own", _post(f"/batches/{B}/commit", _manifest(THEIRS)), 422, "E149",
        before=(("a.pdf", b"x"),)),
    "zip claiming another station": Attack(
        "POST /batches", "own", _post("/batches", _zip({"manifest.json": _manifest(B, OTHER)})), 422, "E156"),
    "status of another station's batch": Attack(
        "GET /batches/{id}", "other", _get(f"/batches/{B}"), 404, "E147", before=(("a.pdf", b"x"),)),
    "commit of another station's batch": Attack(
        "POST /batches/{id}/commit", "other", _post(f"/batches/{B}/commit", _manifest(B)), 404, "E147",
        before=(("a.pdf", b"x"),)),
    "no key": Attack("GET /batches", "none", _get("/batches"), 401, "E148"),
    "forged key": Attack("POST /batches", "forged", _post("/batches", b"PK"), 401, "E148"),
    # item 7: no 500s
    f"zip with a manifest nested {DEEP} levels": Attack(
        "POST /batches", "own", _post("/batches", _zip({"manifest.json": _nested(DEEP)})), 422, "E162"),
    f"commit of a manifest nested {DEEP} levels": Attack(
        "POST /batches/{id}/commit", "own", _post(f"/batches/{B}/commit", _nested(DEEP)), 422, "E162",
        before=(("a.pdf", b"x"),)),
    "commit of a manifest nested 900 levels": Attack(
        "POST /batches/{id}/commit", "own", _post(f"/batches/{B}/commit", _nested(900)), 422, "E162",
        before=(("a.pdf", b"x"),)),
    "chunk a/b after file a": Attack(
        "POST /batches/{id}/files/{path}", "own", _post(f"/batches/{B}/files/a/b", b"x"), 409, "E163",
        before=(("a", b"x"),)),
    "chunk c after file c/d": Attack(
        "POST /batches/{id}/files/{path}", "own", _post(f"/batches/{B}/files/c", b"x"), 409, "E163",
        before=(("c/d", b"x"),)),
    # item 14: a malformed manifest is E101, not "batch id invalid"
    "zip with a manifest that is not JSON": Attack(
        "POST /batches", "own", _post("/batches", _zip({f"{B}/manifest.json": b"{not json"})), 422, "E101"),
}


@pytest.fixture
def station_api(tmp_path):
    settings = Settings(home=tmp_path / "home")
    app = FastAPI()
    app.include_router(station_router(settings, ManifestIngest(), max_upload_bytes=1 << 20))
    keys = {name: signing_station(settings.catalog_url, station, tmp_path / "stations")[0]
            for name, station in (("own", OWN), ("other", OTHER))}
    with TestClient(app) as client:
        yield client, keys, settings


@pytest.mark.parametrize("name", list(ATTACKS))
def test_station_attack_is_refused_with_its_code(name: str, station_api) -> None:
    client, keys, settings = station_api
    attack = ATTACKS[name]
    own = {"X-API-Key": keys["own"]}
    for path, body in attack.before:
        assert client.post(f"/batches/{B}/files/{path}", content=body, headers=own).status_code == 200
    headers = {"own": own, "other": {"X-API-Key": keys["other"]}, "none": {},
               "forged": {"X-API-Key": "forged"}}[attack.key]
    r = attack.send(client, headers)
    assert (r.status_code, r.json()["error"]["code"]) == (attack.status, attack.code), (attack.route, r.text)
    assert str(settings.home) not in r.text and "/tmp/" not in r.text, r.text
    assert not (settings.intake_root / "ready").exists() or not any((settings.intake_root / "ready").iterdir())


def test_refused_chunk_leaves_the_batch_usable(station_api) -> None:
    """After ``a`` then a refused ``a/b`` the batch id is not stuck: the upload goes on and commits."""
    client, keys, _ = station_api
    own = {"X-API-Key": keys["own"]}
    client.post(f"/batches/{B}/files/a", content=b"x", headers=own)
    assert client.post(f"/batches/{B}/files/a/b", content=b"y", headers=own).status_code == 409
    import hashlib
    manifest = _manifest(B, files=[{"path": "a", "byte_size": 1, "sha256": hashlib.sha256(b"x").hexdigest()}])
    assert client.post(f"/batches/{B}/commit", content=manifest, headers=own).status_code == 202
    from tests.intake.test_api_stations import _wait
    assert _wait(client, keys["own"], B)["status"] == "archived"


def test_the_owner_of_a_taken_batch_id_is_not_blocked(station_api) -> None:
    """The probe's case: SM06 could take ``GZZY-SM03-…`` and SM03's own batch was then E130."""
    client, keys, _ = station_api
    theirs = {"X-API-Key": keys["other"]}
    assert client.post(f"/batches/{THEIRS}/files/a.pdf", content=b"x",
                       headers={"X-API-Key": keys["own"]}).status_code == 422
    assert client.post(f"/batches/{THEIRS}/files/a.pdf", content=b"x", headers=theirs).status_code == 200


# --- held changes: only an archivist decides (item 1) ----------------------------------------

CHANGE_ATTACKS = {  # (route, whose key) -> (status, code)
    ("GET /changes", "station"): (401, "E515"),
    ("POST /changes/{id}/approve", "station"): (401, "E515"),
    ("POST /changes/{id}/approve", "service"): (403, "E509"),
    ("POST /changes/{id}/refuse", "service"): (403, "E509"),
    ("GET /changes", "service"): (403, "E509"),
    ("POST /changes/{id}/approve", "none"): (401, "E515"),
    ("POST /changes/{id}/approve", "archivist"): (404, "E160"),  # an archivist, but no such change
}


@pytest.fixture
def change_api(tmp_path):
    from api.changes import change_router
    from api.reading import add_principal

    settings = Settings(home=tmp_path / "home")
    app = FastAPI()
    app.include_router(change_router(settings))
    keys = {"station": add_station(settings.catalog_url, OWN), "none": None,
            "service": add_principal(settings.catalog_url, "svc", kind="service", roles=["reading-service"]),
            "archivist": add_principal(settings.catalog_url, "wang", kind="archivist", roles=["archivist"])}
    with TestClient(app) as client:
        yield client, keys


@pytest.mark.parametrize("route,who", list(CHANGE_ATTACKS))
def test_only_an_archivist_decides_a_held_change(route: str, who: str, change_api) -> None:
    client, keys = change_api
    method, path = route.split(" ")
    headers = {"X-API-Key": keys[who]} if keys[who] else {}
    url = path.replace("{id}", "00000000-0000-0000-0000-000000000000")
    r = (client.get(url, headers=headers) if method == "GET" else
         client.post(url, headers=headers, json={"reason": "not theirs"}))
    assert (r.status_code, r.json()["error"]["code"]) == CHANGE_ATTACKS[(route, who)], r.text
