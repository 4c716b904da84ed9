"""The fleet's HTTP endpoint: hosts POST their reports (Starlette on uvicorn).

Request (documented in docs/fleet.md)::

    POST /v1/reports
    Authorization: Bearer <the host's token>
    Content-Type: application/json
    <the report, exactly as 'vmplatform probe --json' prints it>

Answers (JSON; errors as ``{"error": {"class": ..., "desc": ...}}`` like the CLI's --json):

* 201 ``{"host": H, "report-id": N}``: stored;
* 400 the body is not a valid host report (the reason says where);
* 401 no token, or a token the store does not know;
* 403 the token belongs to another host than the report's ``host.hostname``;
* 413 the body is larger than 1 MiB.

Tokens are checked before the body is read; a token only ever reports for its
own host, so no host can claim features for another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmplatform.fleet._deps import require
from vmplatform.fleet.store import Incoming, Store, StoreUnavailable

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

MAX_BODY = 1 << 20


def _error(status: int, cls: str, desc: str, headers: dict[str, str] | None = None) -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"class": cls, "desc": desc}}, status_code=status, headers=headers)


def make_app(store: Store) -> Starlette:
    require("starlette")
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def post_report(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "AuthenticationError", "no bearer token: send 'Authorization: Bearer TOKEN'",
                          {"WWW-Authenticate": "Bearer"})
        host = await run_in_threadpool(store.host_for_token, token.strip())
        if host is None:
            return _error(401, "AuthenticationError", "unknown token", {"WWW-Authenticate": "Bearer"})
        declared = request.headers.get("content-length")
        if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_BODY):
            return _error(413, "RequestTooLarge", f"a report is at most {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, "RequestTooLarge", f"a report is at most {MAX_BODY} bytes")
        item = _parse(body)
        if isinstance(item, str):
            return _error(400, "HostReportError", item)
        if item.report.name != host:
            return _error(403, "Forbidden", f"this token reports for host '{host}', not for "
                                            f"'{item.report.name}'")
        try:
            ids = await run_in_threadpool(store.add_reports, [item])
        except StoreUnavailable as err:   # nothing stored: the host's timer sends it again
            return _error(503, "StoreUnavailable", err.message, {"Retry-After": "5"})
        return JSONResponse({"host": host, "report-id": ids[0]}, status_code=201)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 500)
        return _error(status, "HTTPError", f"{getattr(exc, 'detail', 'error')}: POST a report to /v1/reports")

    return Starlette(routes=[Route("/v1/reports", post_report, methods=["POST"]),
                             Route("/v1/health", health, methods=["GET"])],
                     exception_handlers={HTTPException: http_error})


def _parse(body: bytes) -> Incoming | str:
    """The report in ``body``, or why it is refused."""
    from vmplatform.fleet.ingest import Refusal, parse

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8 text"
    item = parse("request body", text)
    if isinstance(item, Refusal):
        return f"{item.source}: {item.reason}"
    if not isinstance(item, Incoming):
        return "request body: a manifest, not a host report (manifests are added with 'vmplatform fleet add')"
    return item


def serve(store: Store, host: str, port: int) -> None:
    require("uvicorn")
    import uvicorn

    config: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "access_log": False}
    print(f"vmplatform fleet: accepting reports on http://{host}:{port}/v1/reports", flush=True)
    uvicorn.run(make_app(store), **config)
