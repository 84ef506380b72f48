"""Serve a trained run over HTTP: a thin FastAPI layer over ``LoadedRun`` and its item index, and the page.

>>> import laserrec
>>> from laserrec.inference.serve import create_app
>>> app = create_app(laserrec.load("runs/ml/sasrec"))     # doctest: +SKIP
>>> # uvicorn.run(app) or `laserrec serve runs/ml/sasrec`

Every request is checked against the bodies of ``serve_schema`` (422 naming the field), errors the library
raises for a request (an unknown id, an unknown filter field) are answered 422 with their message, an unknown
item 404, a body over ``max_body`` bytes or one that is not UTF-8 JSON 413 / 400 (``body_check``), a write
without the token 401: no input gives a 5xx, and an error nobody expected is a logged 500 that leaves the
connection open (``serve_errors``).

Model calls run one at a time on one thread (torch uses every core for each); recommend requests are
batched (see ``batching``). Adding items is a lane of its own: a second thread runs the write, sending
only the model's steps (encoding the new items, ``WRITE_STEP`` at a time; swapping the new index in, one
assignment) to the model's thread, queued between batches of recommendations, and writing the index to
disk itself. So a batch of recommendations waits for at most one step of a write, not the whole write.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import Body, Depends, FastAPI, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from laserrec.errors import ConfigError, LaserrecError
from laserrec.inference.batching import Batcher
from laserrec.inference.body_check import BodyCheck
from laserrec.inference.recommender import LoadedRun, Recommendations
from laserrec.inference.serve_errors import UnexpectedErrors, invalid, refused
from laserrec.inference.serve_schema import (
    AddItemsRequest,
    AddItemsResponse,
    BatchRequest,
    BatchResponse,
    Error,
    Facets,
    Health,
    Item,
    RecommendRequest,
    RecommendResponse,
    SearchResponse,
)

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1 << 20  # bytes of a request body
# Items a write encodes per step on the model's thread: a batch of recommendations waits for at most this
# many (a Laser item costs about what a user does). Encoding them one at a time is slower per item.
WRITE_STEP = 2
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"  # nothing from elsewhere
log = logging.getLogger("laserrec.serve")


def create_app(
    run: LoadedRun,
    *,
    token: str | None = None,
    batching: bool = True,
    batch_max: int = 64,
    batch_wait_ms: float = 5.0,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The service of one loaded run. ``token``: when set, ``POST /items`` needs ``Authorization: Bearer
    TOKEN``. ``batching``: answer concurrent recommend requests together (up to ``batch_max`` requests or
    ``batch_wait_ms`` ms). ``max_body``: the largest request body in bytes."""
    executor = writer = None  # the model's one thread and the one that adds items, while the app runs
    batcher = Batcher(run.recommend_many, batch_max, batch_wait_ms)
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_):
        nonlocal executor, writer
        executor = ThreadPoolExecutor(1, thread_name_prefix="laserrec-model")
        writer = ThreadPoolExecutor(1, thread_name_prefix="laserrec-writes")
        if batching:
            await batcher.start(executor)
        yield
        writer.shutdown(wait=True)  # a write waits on model steps: it ends before the model's thread
        await batcher.stop()
        executor.shutdown(wait=True)

    app = FastAPI(
        title=f"laserrec: {run.model}",
        summary="Recommendations of a trained run: raw item ids in, ranked items with their text out",
        version=_version(),
        lifespan=lifespan,
    )
    app.add_middleware(BodyCheck, limit=max_body)
    app.add_middleware(UnexpectedErrors)  # the outermost of the app's own: it sees every error
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(LaserrecError, refused)
    writes = [Depends(_token_check(token))] if token else []
    example = run.index.raw_ids[: min(3, run.n_items)]

    async def in_worker(call, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(executor, partial(call, *args, **kwargs))

    def check_k(k: int) -> None:
        if k > run.n_items:
            raise ConfigError(f"k: {k} is more than the catalog holds ({run.n_items:,} items)")

    @app.post(
        "/recommend",
        operation_id="recommend",
        response_model=RecommendResponse,
        responses=_errors(400, 413, links=_links(top="items/0/id")),
    )
    async def recommend(body: RecommendRequest = _example({"history": example, "k": 5})):
        """Top-k items for one history of raw item ids (oldest first); every filter applies before the cut,
        so k items come back whenever k qualify."""
        check_k(body.k)
        if batching:
            result = await batcher.recommend(body.history, body.k, body.options())
        else:
            result = (await in_worker(run.recommend_many, [body.history], body.k, **body.options()))[0]
        return _ranked(result)

    @app.post("/recommend/batch", response_model=BatchResponse, responses=_errors(400, 413))
    async def recommend_batch(body: BatchRequest = _example({"histories": [example, example[:1]], "k": 5})):
        """Top-k items for each of many histories, the same options for all, in one call."""
        check_k(body.k)
        results = await in_worker(run.recommend_many, body.histories, body.k, **body.options())
        return {"results": [_ranked(r) for r in results]}

    @app.get("/items", response_model=SearchResponse, responses=_errors())
    def search(
        q: str = Query(
            ...,
            min_length=1,
            max_length=200,
            description="words of the title (word starts)",
            openapi_examples=_named(run.index.texts[0]["title"][:20] if run.n_items else "star"),
        ),
        limit: int = Query(20, ge=1, le=100),
    ):
        """Items whose title holds every word of q, best first (for the page's search box)."""
        return {"items": run.search(q, limit)}

    @app.get("/items/{item_id:path}", operation_id="item", response_model=Item, responses=_errors(404))
    def item(item_id: str = PathParam(..., openapi_examples=_named(example[0] if example else "1"))):
        """One catalog item's text by raw id (the rest of the path: an id may hold ``/``, sent as is or as
        ``%2F``)."""
        if item_id not in run.index.position:
            raise HTTPException(404, f"item {item_id!r} is not in the catalog ({run.n_items:,} items)")
        return run.item(item_id)

    @app.post(
        "/items",
        response_model=AddItemsResponse,
        dependencies=writes,
        responses=_errors(400, 401, 413, links=_links(added="added/0")),
    )
    async def add_items(body: AddItemsRequest = _example({"items": [{"item": "new-1", "title": "A title"}]})):
        """Add items by their text (text models: Laser, Lite-LLM4Rec), without retraining. They are in the
        run's index on disk (replaced atomically) before the answer comes, so they survive a restart."""
        rows = [i.model_dump() for i in body.items]
        write = partial(run.add_items, rows, on_model=partial(_wait_for, executor), step_items=WRITE_STEP)
        added = await asyncio.get_running_loop().run_in_executor(writer, write)
        return {"added": added, "n_items": run.n_items}

    @app.get("/facets", response_model=Facets, responses=_errors())
    def facets(limit: int = Query(50, ge=1, le=1000)):
        """The most common brands and categories with their item counts (the page's filters)."""
        return {
            name: [{"value": v, "count": c} for v, c in run.index.values(name, limit)]
            for name in ("brand", "categories")
        }

    @app.get("/health", response_model=Health)
    def health():
        """The model, the catalog's size and the service's uptime."""
        return {
            "status": "ok",
            "model": run.model,
            "n_items": run.n_items,
            "n_trained": run.index.n_trained,
            "scoring": run.index.scoring,
            "takes_new_items": run.takes_new_items,
            "writes_need_token": bool(token),
            "uptime_s": round(time.monotonic() - started, 3),
            "batching": {
                "enabled": batching,
                "max_size": batch_max,
                "max_wait_ms": batch_wait_ms,
                "calls": batcher.calls,
                "requests": batcher.requests,
            },
        }

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve(run: LoadedRun, host: str = "127.0.0.1", port: int = 8000, **options) -> None:
    """Run the service on uvicorn until interrupted (``laserrec serve``); options as ``create_app``."""
    import uvicorn

    if not _is_loopback(host):
        log.warning("binding %s: the service is reachable from other machines, not only this one", host)
        if not options.get("token"):
            log.warning("no --token: anyone who reaches %s:%d can add items", host, port)
    uvicorn.run(create_app(run, **options), host=host, port=port, log_level="info")


def _wait_for(executor: ThreadPoolExecutor, step) -> None:
    """Run ``step`` on ``executor``'s thread and wait for it (from another thread)."""
    executor.submit(step).result()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ranked(result: Recommendations) -> dict:
    return {"items": list(result), "skipped": result.skipped, "qualified": result.qualified}


def _errors(*codes: int, links: dict | None = None) -> dict:
    """The error answers of a route, for the OpenAPI schema: 422 on every route that reads input (400: a
    body that is not UTF-8 JSON); ``links``: where its answer leads (OpenAPI links of the 200)."""
    return {code: {"model": Error} for code in (*codes, 422)} | ({200: {"links": links}} if links else {})


def _links(**pointers: str) -> dict:
    """OpenAPI links from an answer's item id (at a JSON pointer into its body) to that item's text and to
    the recommendations after it; clients and schemathesis' stateful tests follow them."""
    out = {}
    for name, pointer in pointers.items():
        item = f"$response.body#/{pointer}"
        out[f"{name.capitalize()}Item"] = {"operationId": "item", "parameters": {"item_id": item}}
        out[f"After{name.capitalize()}Item"] = {
            "operationId": "recommend",
            "requestBody": {"history": [item]},
        }
    return out


def _example(value: dict):
    return Body(..., openapi_examples=_named(value))


def _named(value) -> dict:
    return {"example": {"summary": "from this run's catalog", "value": value}}


def _token_check(token: str):
    bearer = HTTPBearer(auto_error=False, description="the token given to `laserrec serve --token`")

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = "" if credentials is None else credentials.credentials
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401, "writes need 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )

    return check


def _version() -> str:
    from laserrec import __version__

    return __version__
