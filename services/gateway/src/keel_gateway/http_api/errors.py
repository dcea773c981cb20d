"""Errors in OpenAI's envelope, registered once on the app: the gateway's ``ApiError``,
request validation (the first problem, with its ``param``), Starlette's 404/405 and anything
unexpected (a 500 that says nothing internal)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from keel_common.contract import REQUEST_ID_HEADER
from keel_gateway.errors import ApiError

log = logging.getLogger(__name__)


def error_response(err: ApiError, extra_headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers={**err.headers, **(extra_headers or {})})


_TYPE_NAMES = {"int", "float", "str", "bool", "none", "list", "dict", "bytes"}


def _type_tag(part: object) -> bool:
    """pydantic names the union member that failed in the location ("n_epochs.constrained-int",
    "n_epochs.literal['auto']"); the client's field is the part before it."""
    return isinstance(part, str) and (part in _TYPE_NAMES or any(c in part for c in "-['("))


def validation_error(err: RequestValidationError) -> ApiError:
    first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return ApiError(400, "We could not parse the JSON body of your request.", code="invalid_json")
    loc = [str(p) for p in first.get("loc", ()) if p != "body" and not _type_tag(p)]
    if not loc and first.get("loc", ())[:1] == ("body",):
        return ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    param = ".".join(loc) or None
    if first.get("type") == "missing":
        return ApiError(
            400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    msg = str(first.get("msg", "invalid value"))
    return ApiError(400, f"Invalid value for '{param}': {msg}.", param=param, code="invalid_value")


async def _api_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, ApiError)
    request_id = getattr(request.state, "request_id", "")
    return error_response(err, {REQUEST_ID_HEADER: request_id} if request_id else None)


async def _invalid(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    return error_response(validation_error(err))


async def _http(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(err.status_code)
    return error_response(ApiError(err.status_code, str(err.detail), code=code))


async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(
        ApiError(500, "The server had an error while processing your request.", code="internal_error")
    )


def register(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
