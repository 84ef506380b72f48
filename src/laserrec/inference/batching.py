"""Request batching for the service: concurrent recommend requests wait a few milliseconds in a queue and are
answered together by one ``recommend_many`` call, which encodes their users as one batch (cheaper per user
than a call each: the per-call overhead is shared and the matrix products run on more rows at once).

The queue is taken up to ``max_size`` requests, or whatever came within ``max_wait_ms`` of the first one.
Requests in one take are grouped by their options (``exclude_history``, ``where``, ``candidates``,
``exclude``, ``on_unknown``); each group is one call, ranking the largest ``k`` of the group, and every
request gets its own first ``k`` (the same list it would get alone). When a group fails with a user error
(one request names an unknown id), it is split in halves and each half answered again, down to the request
at fault, so a bad request fails only itself. Every model call runs in one worker thread, one at a time:
torch uses every core for each call, and adding items never overlaps a ranking.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial

from laserrec.errors import LaserrecError
from laserrec.inference.recommender import Recommendations


@dataclass
class _Pending:
    history: list[str]
    k: int
    options: dict
    future: asyncio.Future
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = json.dumps(self.options, sort_keys=True)


class Batcher:
    """Collects concurrent requests and answers them with one ``recommend_many(histories, k, **options)``
    call per group of identical options. Started inside the event loop that serves, with the executor that
    runs the calls."""

    def __init__(self, recommend_many: Callable, max_size: int = 64, max_wait_ms: float = 5.0) -> None:
        if max_size < 1 or max_wait_ms < 0:
            raise ValueError(f"batch size must be >= 1 and wait >= 0 ms, got {max_size}, {max_wait_ms}")
        self.recommend_many, self.executor = recommend_many, None
        self.max_size, self.max_wait = max_size, max_wait_ms / 1000
        self.calls = self.requests = 0  # recommend_many calls made, requests answered by them
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task | None = None

    async def start(self, executor: Executor) -> None:
        self.executor, self._queue = executor, asyncio.Queue()
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def recommend(self, history: list[str], k: int, options: dict) -> Recommendations:
        """The top-k of one history, answered within the next batch."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(history, k, options, future))
        return await future

    async def _serve(self) -> None:
        while True:
            groups: dict[str, list[_Pending]] = {}
            for pending in await self._take():
                groups.setdefault(pending.key, []).append(pending)
            for group in groups.values():
                try:
                    await self._answer(group)
                except Exception as e:  # a fault of the queue itself fails its group; the queue goes on
                    for pending in group:
                        _settle(pending, error=e)

    async def _take(self) -> list[_Pending]:
        """The first waiting request, then up to max_size - 1 more: those already queued and those that come
        before max_wait has passed since the first was taken."""
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
                break
        return batch

    async def _answer(self, group: list[_Pending]) -> None:
        group = [p for p in group if not p.future.done()]  # a client that went away is not ranked
        if not group:
            return
        k = max(p.k for p in group)
        call = partial(self.recommend_many, [p.history for p in group], k, **group[0].options)
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except LaserrecError as e:
            if len(group) == 1:
                _settle(group[0], error=e)
            else:  # find the requests at fault by halves: a few more calls, not one per request
                await self._answer(group[: len(group) // 2])
                await self._answer(group[len(group) // 2 :])
            return
        self.calls, self.requests = self.calls + 1, self.requests + len(group)
        for pending, result in zip(group, results, strict=True):
            _settle(pending, Recommendations(result[: pending.k], result.skipped, result.qualified))


def _settle(pending: _Pending, result: Recommendations | None = None, error: Exception | None = None) -> None:
    if pending.future.done():
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        pending.future.set_result(result)
