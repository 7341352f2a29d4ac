"""Schemathesis drives the station API from its own OpenAPI document: no input yields a 500."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from fastapi import FastAPI  # noqa: E402
from hypothesis import HealthCheck, given, settings as hsettings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from config.settings import Settings  # noqa: E402
from api.stations import station_router  # noqa: E402
from tests.intake.conftest import ManifestIngest, signing_station  # noqa: E402


@pytest.fixture(scope="module")
def station_api(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("schemathesis") / "home")
    app = FastAPI()
    app.include_router(station_router(settings, ManifestIngest(), max_upload_bytes=1 << 20))
    key = signing_station(settings.catalog_url, "GZZY-SM09", settings.home.parent / "stations")[0]
    return app, key


def _operations(app: FastAPI) -> list:
    schemathesis.serializer.alias("application/zip", "application/octet-stream")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_error(station_api) -> None:
    """Positive and negative generated requests, with the station key and without any key."""
    app, key = station_api
    operations = _operations(app)
    assert len(operations) == 5
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
               | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @hsettings(max_examples=30, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            for headers in ({"X-API-Key": key}, None):
                response = case.call(headers=headers)
                label = f"{case.method} {case.formatted_path}"
                assert response.status_code < 500, (label, response.text)
                if response.status_code >= 400:  # ours carry a code; a path no route matches is FastAPI's
                    body = response.json()
                    assert "error" in body or (response.status_code in (404, 405) and "detail" in body), \
                        (label, response.text)

        run()
