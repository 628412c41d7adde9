"""Every error leaves the gateway as JSON `{error, detail}` with the right status, never an HTML page.

This is the one place exceptions become HTTP: domain errors are mapped here, and anything unexpected is
logged with its traceback and answered with a 500 that leaks nothing.
"""

from __future__ import annotations

import logging

import falcon
import falcon.asgi
from cassandra import DriverException, RequestExecutionException
from cassandra.cluster import NoHostAvailable

from gateway.rpc import RemoteRejected, RpcTimedOut, RpcUnavailable
from shared.bus.admin import BusUnavailable
from shared.events import EventValidationError
from shared.ledger.errors import InsufficientCredits, LedgerBusy, LedgerInputError, RequestIdConflict
from shared.storage.cassandra import StorageUnavailable
from shared.storage.pages import InvalidPageReference, PageNotFound
from shared.symbols import SymbolError

log = logging.getLogger("gibsey.gateway")

# Domain exception -> HTTP status. Their messages are written for readers, so they go out as `detail`.
ERROR_STATUS: dict[type[Exception], str] = {
    EventValidationError: falcon.HTTP_422,
    SymbolError: falcon.HTTP_422,
    InvalidPageReference: falcon.HTTP_422,
    PageNotFound: falcon.HTTP_404,
    StorageUnavailable: falcon.HTTP_503,
    NoHostAvailable: falcon.HTTP_503,
    DriverException: falcon.HTTP_503,  # e.g. OperationTimedOut
    RequestExecutionException: falcon.HTTP_503,  # Unavailable, ReadTimeout, ...
    BusUnavailable: falcon.HTTP_503,
    RpcUnavailable: falcon.HTTP_503,
    RpcTimedOut: falcon.HTTP_504,
    RemoteRejected: falcon.HTTP_422,
    LedgerInputError: falcon.HTTP_422,
    RequestIdConflict: falcon.HTTP_409,
    LedgerBusy: falcon.HTTP_503,
}
# A remote refusal whose type means "no such thing" rather than "malformed".
REMOTE_NOT_FOUND = {"UnknownLocus", "PageNotFound"}
# Other remote refusals whose type says more than "malformed" (by the remote exception's class name).
REMOTE_STATUS = {"RequestIdConflict": falcon.HTTP_409, "LedgerBusy": falcon.HTTP_503}
# Errors whose own message is for operators (addresses, driver internals): readers get this instead.
STORAGE_ERRORS = (StorageUnavailable, NoHostAvailable, DriverException, RequestExecutionException)
STORAGE_DETAIL = "the page store is not answering; try again shortly"


def serialize_http_error(req: falcon.asgi.Request, resp: falcon.asgi.Response, exc: falcon.HTTPError) -> None:
    """Every error as `{error, detail}`; Falcon's own 404/405 (no detail, "404 Not Found" titles) say what was asked."""
    resp.content_type = falcon.MEDIA_JSON
    title = exc.title.split(" ", 1)[1] if exc.title[:3].isdigit() and " " in exc.title else exc.title
    detail = exc.description
    if detail is None and isinstance(exc, falcon.HTTPMethodNotAllowed):
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{req.method} is not allowed on {req.path}" + (f"; allowed: {allowed}" if allowed else "")
    elif detail is None and exc.status == falcon.HTTP_404:
        detail = f"no resource at {req.path} (see /openapi.json)"
    resp.media = {"error": title, "detail": detail}


async def handle_domain_error(req: falcon.asgi.Request, resp: falcon.asgi.Response, exc: Exception, params) -> None:
    status = next(code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind))
    if isinstance(exc, RemoteRejected) and exc.exc_type in REMOTE_NOT_FOUND:
        status = falcon.HTTP_404
    elif isinstance(exc, RemoteRejected):
        status = REMOTE_STATUS.get(exc.exc_type, status)
    detail = str(exc)
    if isinstance(exc, STORAGE_ERRORS):
        log.warning("storage error", extra={"path": req.path, "error": repr(exc)})
        detail = STORAGE_DETAIL
    raise falcon.HTTPError(status, title=status.split(" ", 1)[1], description=detail)


async def handle_insufficient_credits(req: falcon.asgi.Request, resp: falcon.asgi.Response,
                                      exc: InsufficientCredits, params) -> None:
    """402 with what the client needs to decide (top up, or ask for less): `{error, detail, needed, available}`."""
    resp.status = falcon.HTTP_402
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"error": "Payment Required", "detail": str(exc), "needed": exc.needed, "available": exc.available}


async def handle_unexpected(req: falcon.asgi.Request, resp: falcon.asgi.Response, exc: Exception, params) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc
    log.exception("unhandled error", extra={"path": req.path, "method": req.method})
    raise falcon.HTTPInternalServerError(title="Internal Server Error", description="an unexpected error; see the gateway log")


def install(app: falcon.asgi.App) -> None:
    app.set_error_serializer(serialize_http_error)
    app.add_error_handler(Exception, handle_unexpected)
    for kind in ERROR_STATUS:
        app.add_error_handler(kind, handle_domain_error)
    app.add_error_handler(InsufficientCredits, handle_insufficient_credits)
