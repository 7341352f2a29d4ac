"""The HTTP API's one error shape: every expected failure of a route becomes
``{"error": {code, path, message, problems}}`` with a status chosen by its stable code."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from schemas.errors import InputRejected, JuanzongError, NotFound, Problem, is_no_space, no_space_error, public_text

STATUS = {
    "E140": 413, "E145": 409, "E146": 409, "E163": 409, "E166": 507, "E147": 404, "E148": 401, "E150": 409, "E151": 404,
    "E154": 409, "E160": 404, "E161": 409, "E167": 409, "E183": 403, "E503": 404, "E507": 404, "E508": 409, "E509": 403, "E510": 410, "E511": 403,
    "E512": 409, "E513": 403, "E515": 401, "E516": 422, "E517": 403, "E518": 409, "E603": 503,
    "E413": 503, "E610": 503, "E611": 503,
}


def error_response(exc: JuanzongError) -> JSONResponse:
    """The JSON error; no path of the server reaches the caller (``public_text``)."""
    problems = getattr(exc, "problems", None) or [Problem(path=exc.path, code=exc.code,
                                                          message=str(exc))]
    status = STATUS.get(exc.code, 404 if isinstance(exc, NotFound) else 422)
    body = {"code": exc.code, "path": public_text(exc.path), "message": public_text(str(exc)),
            "problems": [{k: public_text(v) for k, v in p.public().items()} for p in problems]}
    return JSONResponse({"error": body}, status_code=status)


def plain_error(code: str, status: int, reason: str) -> JSONResponse:
    exc = InputRejected(code, "request", reason=reason)
    return JSONResponse({"error": {"code": code, "path": "request", "message": str(exc),
                                   "problems": []}}, status_code=status)


class JsonErrorRoute(APIRoute):
    """Turns every expected failure inside a route into the JSON error shape."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def wrapped(request: Request):
            try:
                return await handler(request)
            except JuanzongError as exc:
                return error_response(exc)
            except RequestValidationError as exc:
                return plain_error("E155", 422, str(exc.errors())[:300])
            except HTTPException as exc:
                return plain_error("E155", exc.status_code, str(exc.detail)[:300])
            except ClientDisconnect:
                return plain_error("E155", 400, "client disconnected during upload")
            except OSError as exc:
                if not is_no_space(exc):
                    raise
                return error_response(no_space_error(exc))

        return wrapped
