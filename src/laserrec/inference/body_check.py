"""An ASGI middleware that reads every request body before the app does and refuses, before anything parses
it: a body over the size limit (413), by the declared Content-Length at once and by counting when it comes
in chunks without one; and a JSON body the parser cannot read (400), naming where: bytes that are not UTF-8
(a UTF-16 body among them: JSON bodies are UTF-8), or nesting deeper than ``MAX_DEPTH`` levels (the parser
would give up on the recursion with no position). A body that is UTF-8 but not valid JSON goes on to the
app, which answers 422 with the parser's own position."""

from __future__ import annotations

import json
import re

MAX_DEPTH = 64  # nested arrays and objects in a JSON body; the service's own bodies nest 4 deep
_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # strings (skipped whole) and brackets


class BodyCheck:
    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False
        reason = _unreadable(body) if body and _is_json(headers.get(b"content-type")) else None
        if reason:
            error = {"detail": f"body: {reason}", "errors": [{"field": "body", "message": reason}]}
            return await send_json(send, 400, error)

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        await send_json(send, 413, {"detail": f"request body over {self.limit:,} bytes"})


async def send_json(send, status: int, content: dict) -> None:
    """A whole JSON answer (with its length, so the connection can carry the next request)."""
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _is_json(content_type: bytes | None) -> bool:
    """Whether the app parses the body as JSON: no Content-Type, application/json or application/*+json."""
    if content_type is None:
        return True
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _unreadable(body: bytes) -> str | None:
    """Why the JSON parser could not read ``body`` at all, naming the place (None: it can try)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 (byte 0x{body[e.start]:02x} at byte {e.start}); JSON bodies are UTF-8"
    if "\x00" in text:  # UTF-16 or UTF-32 text (the parser would guess it), or a stray NUL: not JSON
        return f"a NUL byte at byte {body.index(0)}: not UTF-8 JSON (UTF-16 or UTF-32?)"
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # cannot nest deeper: no scan
        return None
    depth = 0
    for token in _NESTING.finditer(text):
        if token.group() in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep (at character {token.start()})"
        elif token.group() in ("]", "}"):
            depth -= 1
    return None
