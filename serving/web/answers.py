"""The error envelope: every refusal is `{error, detail, code, message}`, and every
invalid field is named; no answer ever carries a stack trace.

(No `from __future__ import annotations` in this package: FastAPI reads route and model
signatures at run time.)
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.errors import InvalidEventError, OutageError
from actors.model.events import field_path
from serving.edge import error_body
from serving.security import ApiError

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    error: str
    detail: str
    # The same two, under the names Segment's and RudderStack's SDKs read (serving/edge.py).
    code: str
    message: str


class FieldError(BaseModel):
    field: str
    message: str


class ValidationErrorOut(BaseModel):
    error: Literal["invalid_request"]
    detail: str
    fields: list[FieldError]
    code: Literal["invalid_request"] = "invalid_request"
    message: str = ""


class RejectedEvent(BaseModel):
    index: int
    event_id: str | None
    errors: list[FieldError]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not JSON"},
    401: {"model": ErrorOut, "description": "no key, or an unknown key"},
    403: {"model": ErrorOut, "description": "the key cannot do this"},
    413: {"model": ErrorOut, "description": "request or event too large"},
    422: {"model": ValidationErrorOut, "description": "a parameter or field is invalid"},
    429: {"model": ErrorOut, "description": "rate limit; see Retry-After"},
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "a backend (shard, scorer, broker) is unavailable"}
}


def rejected(index: int, raw: Any, errors: list[FieldError]) -> RejectedEvent:
    """A refused event or call, with its own id when it has one."""
    event_id = raw.get("event_id") or raw.get("messageId") if isinstance(raw, dict) else None
    return RejectedEvent(
        index=index, event_id=event_id if isinstance(event_id, str) else None, errors=errors
    )


def field_errors(error: ValidationError | InvalidEventError) -> list[FieldError]:
    if isinstance(error, InvalidEventError):
        return [FieldError(field=error.field or "<event>", message=error.reason)]
    return [
        FieldError(field=field_path(e["loc"]) or "<event>", message=e["msg"])
        for e in error.errors(include_url=False)
    ]


def invalid(location: tuple[str, ...], message: str) -> RequestValidationError:
    """A refusal of one parameter or field the route checks itself (beyond its schema),
    answered in the same envelope as the schema's own: a 422 naming the field."""
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.error, exc.detail), exc.status, headers=exc.headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [
        FieldError(field=".".join(str(p) for p in e["loc"]) or "<request>", message=e["msg"])
        for e in exc.errors()
    ]
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    body = ValidationErrorOut(error="invalid_request", detail=detail, fields=fields, message=detail)
    return JSONResponse(body.model_dump(), 422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    error = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http"
    )
    return JSONResponse(error_body(error, str(exc.detail)), exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """No stack trace ever leaves the server; the log has it."""
    log.exception("unexpected error on %s", request.url.path)
    return JSONResponse(error_body("internal", "unexpected error; see the server log"), 500)


def install_error_handlers(app: FastAPI) -> None:
    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(Exception)(_unexpected)


async def store_call(call: Callable[[], Any], conflict: type[Exception], what: str) -> Any:
    """A blocking call to a store of versioned data (the catalogue, the rules), off the
    event loop: an outage is a 503, losing the race to other writers a 409."""
    try:
        return await asyncio.to_thread(call)
    except OutageError as error:
        raise ApiError(503, "store_unavailable", str(error)) from error
    except conflict:
        raise ApiError(409, "conflict", f"the {what} kept changing; try again") from None
