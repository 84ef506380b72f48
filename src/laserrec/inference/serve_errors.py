"""How the service answers what goes wrong: a request the schema refuses (422 naming the field and value), an
error the library raises for a request (422 with its message), and an error nobody expected (a logged 500).

Starlette answers an unexpected exception with a 500 and then raises it again for the server to log;
uvicorn, seeing an exception after an answer began, closes the connection, and the client's next request on
it is reset. ``UnexpectedErrors`` sits outside the app instead: it logs the exception, answers a whole
JSON 500 and raises nothing, so the connection carries the next request. Only when part of an answer was
already sent does it raise, as closing the connection is then the one way to end that answer.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from laserrec.errors import LaserrecError
from laserrec.inference.body_check import send_json

log = logging.getLogger("laserrec.serve")


class UnexpectedErrors:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_json(send, 500, {"detail": "internal error (logged by the service)"})


async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(e), "message": _message(e)} for e in exc.errors()[:20]]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


async def refused(_: Request, exc: LaserrecError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


def _field(error: dict) -> str:
    loc = error["loc"][:1] if error["type"] == "json_invalid" else error["loc"]
    return ".".join(str(part) for part in loc)


def _message(error: dict) -> str:
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "decode error")
        return f"not valid JSON ({reason} at character {error['loc'][-1]})"
    if isinstance(error.get("input"), bytes):
        return "expected a JSON object (Content-Type: application/json)"
    if "input" not in error or error["type"] == "missing":
        return error["msg"]
    shown = repr(error["input"])
    return f"{error['msg']} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
