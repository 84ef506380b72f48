"""Recommend with a trained run: raw item ids in, raw ids with their text and score out.

>>> import laserrec
>>> rec = laserrec.load("runs/ml/laser")                                  # doctest: +SKIP
>>> rec.recommend(["50", "172"], k=3, exclude_history=True)             # doctest: +SKIP
[{'rank': 1, 'id': '181', 'title': 'Return of the Jedi (1983)', ..., 'score': 0.83}, ...]

Every filter is a mask applied before the top-k cut, so a call returns k items whenever k qualify, and
never an item outside the catalog; where fewer qualify (a filter no item passes, candidates all excluded)
it returns those, possibly none, and says how many in ``qualified``: never an error. The ranking is the
model's own (the same as ``laserrec evaluate`` for the same history): user vectors against the run's item
index, less the model's repeat offset on items the user already has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch

from laserrec.data.dataset import ItemText
from laserrec.data.io import sha256
from laserrec.errors import ConfigError, DataError
from laserrec.inference.index import ItemIndex, qualifying
from laserrec.models.base import Batch, pad_left

log = logging.getLogger(__name__)

INDEX_DIR = "index"


class Recommendations(list):
    """A ranked list of item dicts (rank, id, title, brand, categories, description, score); ``skipped``
    lists the history ids left out because the catalog does not hold them (``on_unknown="skip"``);
    ``qualified`` is how many items passed every filter and exclusion, so the list holds
    ``min(k, qualified)`` items: fewer than k (possibly none) only when fewer qualify."""

    skipped: list[str]
    qualified: int

    def __init__(
        self, items: Iterable[dict] = (), skipped: Sequence[str] = (), qualified: int | None = None
    ) -> None:
        super().__init__(items)
        self.skipped = list(skipped)
        self.qualified = len(self) if qualified is None else qualified


def build_index(
    net, raw_ids: list[str], texts: list[dict], n_trained: int, model: str, checkpoint: str
) -> ItemIndex:
    """The item index of a trained model whose catalog holds ``raw_ids`` (``n_trained`` from training); a
    model with no fixed item matrix gets a "full" index (no vectors: it scores every item itself).
    ``checkpoint``: the sha256 of the checkpoint it was loaded from."""
    net.eval()
    net.prepare_for_eval()
    with torch.inference_mode():
        vectors = net.item_vectors()
    rows, bias = vectors if vectors is not None else (torch.zeros(len(raw_ids) + 1, 0), None)
    return ItemIndex(  # on the CPU, as saved; ``LoadedRun`` moves it to its device
        rows[1:].detach().float().cpu().clone(),
        None if bias is None else bias[1:].detach().float().cpu().clone(),
        list(raw_ids),
        list(texts),
        net.scoring if vectors is not None else "full",
        n_trained,
        model,
        checkpoint,
    )


def write_index(run_dir: str | Path, net=None, data=None) -> ItemIndex:
    """Build and save ``RUN/index`` for a trained run (``laserrec index``; training calls it at the end)."""
    from laserrec.training.loading import load_run

    run_dir = Path(run_dir)
    if net is None:
        net, data, _, _ = load_run(run_dir)
    model = json.loads((run_dir / "config.json").read_text())["model"]
    texts = [t.to_dict() for t in data.items[1:]]
    best = run_dir / "best.pt"
    checkpoint = sha256(best) if best.exists() else ""
    index = build_index(net, data.item_ids, texts, data.n_items, model, checkpoint)
    index.save(run_dir / INDEX_DIR)
    return index


def load(run_dir: str | Path, device: str | torch.device = "auto") -> LoadedRun:
    """A trained run, ready to recommend: its best checkpoint, dataset and item index, on ``device``
    (auto | cpu | cuda | cuda:N | mps; the model and the item index both go there).

    >>> rec = load("runs/ml/sasrec")                   # doctest: +SKIP
    >>> rec.recommend(["50"], k=5)[0]["title"]         # doctest: +SKIP
    'Star Wars (1977)'
    >>> load("runs/ml/laser", device="cuda").device    # doctest: +SKIP
    device(type='cuda')
    """
    from laserrec.device import resolve_device
    from laserrec.training.loading import load_run

    run_dir, device = Path(run_dir), resolve_device(device)
    net, data, _, run_config = load_run(run_dir, device=device)
    net.eval()
    folder = run_dir / INDEX_DIR
    index, added = None, []
    if (folder / "manifest.json").is_file():
        index = ItemIndex.load(folder)
        if index.checkpoint and index.checkpoint != sha256(run_dir / "best.pt"):
            log.warning(f"{folder}: written from another checkpoint than best.pt; rebuilding it from best.pt")
            added = [
                {"item": index.raw_ids[i], **index.texts[i]} for i in range(index.n_trained, index.n_items)
            ]
            index = None
    if index is None:
        index = write_index(run_dir, net, data)
    else:
        _replay_added(net, index)
    run = LoadedRun(run_dir, run_config["model"], net, data, index)
    if added:  # items added by text before the checkpoint changed: encoded again by the new weights
        run.add_items(added)
    return run


def _replay_added(net, index: ItemIndex) -> None:
    """Items added by text since training go into the model's catalog again (encoded as before)."""
    if index.n_items > index.n_trained:
        net.add_items([ItemText(**index.texts[i]) for i in range(index.n_trained, index.n_items)])


def model_as_saved(run_dir: Path, index: ItemIndex, device: torch.device):
    """The run's model as its checkpoint and its index on disk say (after a failed add)."""
    from laserrec.training.loading import load_run

    net = load_run(run_dir, device=device)[0].eval()
    _replay_added(net, index)
    return net


class LoadedRun:
    """A trained model with its item index. Made by ``laserrec.load``."""

    def __init__(self, run_dir: Path, model: str, net, data, index: ItemIndex) -> None:
        self.device = net.device  # where the model, and so the item index, computes
        self.run_dir, self.model, self.net, self.data = run_dir, model, net, data
        self.index = index.to(self.device)
        self.user_position = {u: i for i, u in enumerate(data.user_ids)}
        self._approximate = None  # the FAISS search, once asked for

    def __repr__(self) -> str:
        added = self.index.n_items - self.index.n_trained
        return (
            f"<{self.model} run {self.run_dir}: {self.n_items:,} items, {added} added, {self.index.scoring}>"
        )

    @property
    def n_items(self) -> int:
        return self.index.n_items

    @property
    def takes_new_items(self) -> bool:
        """Whether ``add_items`` works: the model scores items from their text (Laser, Lite-LLM4Rec, text,
        fusion) or, as most popular, needs nothing of them."""
        from laserrec.models.base import Recommender

        return type(self.net).add_items is not Recommender.add_items

    # ------------------------------------------------------------------ recommend
    def recommend(
        self,
        history: Sequence[str],
        k: int = 10,
        *,
        exclude_history: bool = False,
        where: dict | None = None,
        candidates: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        on_unknown: str = "error",
        approximate: bool | str = "auto",
    ) -> Recommendations:
        """Top-k items for one history of raw item ids (oldest first); the options as ``recommend_many``.

        >>> rec.recommend(["50", "172"], k=2, where={"categories": "Sci-Fi"})   # doctest: +SKIP
        """
        (result,) = self.recommend_many(
            [history],
            k,
            exclude_history=exclude_history,
            where=where,
            candidates=candidates,
            exclude=exclude,
            on_unknown=on_unknown,
            approximate=approximate,
        )
        return result

    def recommend_many(
        self,
        histories: Sequence[Sequence[str]],
        k: int = 10,
        *,
        exclude_history: bool = False,
        where: dict | None = None,
        candidates: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        on_unknown: str = "error",
        approximate: bool | str = "auto",
        batch_size: int = 64,
    ) -> list[Recommendations]:
        """Top-k items for each history, in batches (no gradient is ever kept).

        ``exclude_history``: leave out items the user already has. ``where``: item-field filters, e.g.
        ``{"brand": "3M"}`` (equals; on categories, any one category) or ``{"title": {"contains": "pen"}}``.
        ``candidates``: rank only these raw ids. ``exclude``: never these raw ids. ``on_unknown``: "error"
        (the default) refuses a history id outside the catalog, naming it; "skip" leaves it out and
        lists it in the result's ``skipped``. ``approximate``: True searches with FAISS, False exactly,
        "auto" approximately from 200,000 items up when FAISS is installed.

        >>> rec.recommend_many([["50"], ["1", "2"]], k=5, exclude=["181"])      # doctest: +SKIP
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        if on_unknown not in ("error", "skip"):
            raise ConfigError(f"on_unknown must be 'error' or 'skip', got {on_unknown!r}")
        with torch.inference_mode():
            rows, skipped = self._history_rows(histories, on_unknown)
            allowed = self._allowed(where, candidates, exclude)
            search = self._search(approximate)
            return self._ranked_lists(rows, skipped, k, allowed, exclude_history, batch_size, search)

    def _ranked_lists(self, rows, skipped, k, allowed, exclude_history, batch_size, search):
        offset, read = self.net.repeat_offset(), self.net.history_len
        results = []
        for lo in range(0, len(rows), batch_size):
            chunk = rows[lo : lo + batch_size]
            seen = [h[-read:] for h in chunk]  # the history as the model reads it (its offset applies there)
            excluded = chunk if exclude_history else None
            qualified = qualifying(self.n_items, allowed, excluded, len(chunk))
            if not any(qualified):  # nothing to rank: no user is encoded
                results += [Recommendations([], skipped[lo + b], 0) for b in range(len(chunk))]
                continue
            scores, top = search(self._queries(seen), k, allowed, seen, offset, excluded)
            results += [
                self._ranked(scores[b], top[b], skipped[lo + b], qualified[b]) for b in range(len(chunk))
            ]
        return results

    # ------------------------------------------------------------------ new items
    def add_items(
        self, items: str | Path | Iterable[dict], *, on_model=None, step_items: int | None = None
    ) -> list[str]:
        """Add items by their text, without retraining (Laser, Lite-LLM4Rec, text, fusion; most popular gives
        them a count of 0); returns their ids.

        ``items``: a JSONL file as ``laserrec prepare`` reads (``{"item", "title", "brand", "categories",
        "description"}`` per line) or such dicts. The index on disk is replaced atomically: if anything
        fails, the run's index and this object are unchanged. ``on_model(step)`` runs each step that uses
        the model (default: here), ``step_items`` items encoded per step (default: all in one); the
        service runs the steps on the model's thread, a few items each, between batches of
        recommendations, and writes the index to disk off that thread.

        >>> rec.add_items([{"item": "new-1", "title": "Solar kettle", "brand": "Sunny"}])   # doctest: +SKIP
        ['new-1']
        """
        from laserrec.inference.new_items import Addition

        on_model = on_model or (lambda step: step())
        adding = Addition(self, items)
        step = step_items or len(adding.ids)
        for lo in range(0, len(adding.ids), step):
            on_model(partial(adding.encode, lo, min(lo + step, len(adding.ids))))
        try:
            adding.save()
        except BaseException:
            on_model(adding.undo)
            raise
        on_model(adding.commit)
        return adding.ids

    def history_of(self, user: str) -> list[str]:
        """The raw item ids of a user of the run's dataset, oldest first (the whole sequence)."""
        if user not in self.user_position:
            raise DataError(f"user {user!r} is not in the run's dataset ({self.data.n_users:,} users)")
        return [self.index.raw_ids[i - 1] for i in self.data.sequences[self.user_position[user]].tolist()]

    def item(self, raw_id: str) -> dict:
        """One catalog item's text by raw id."""
        if raw_id not in self.index.position:
            raise DataError(f"item {raw_id!r} is not in the catalog ({self.n_items:,} items)")
        return self.index.item(self.index.position[raw_id])

    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Catalog items whose title holds every word of ``query`` (word starts, any case), best first.

        >>> rec.search("star wars", limit=1)[0]["id"]      # doctest: +SKIP
        '50'
        """
        return [self.index.item(row) for row in self.index.search(query, limit)]

    # ------------------------------------------------------------------ internals
    def _search(self, approximate: bool | str):
        """The exact top-k of the index, or the FAISS one (built on first use and kept)."""
        from laserrec.inference.approximate import APPROX_MIN_ITEMS, ApproximateSearch, faiss_available

        if approximate not in (True, False, "auto"):
            raise ConfigError(f"approximate must be True, False or 'auto', got {approximate!r}")
        if self.index.scoring == "full":
            if approximate is True:
                raise ConfigError(
                    f"{self.model} scores every item itself (no item vectors to search): approximate=True "
                    "does not apply; leave it 'auto' or False"
                )
            return self.index.top_k
        if approximate == "auto":
            approximate = self.n_items >= APPROX_MIN_ITEMS and faiss_available()
        if not approximate:
            return self.index.top_k
        if self._approximate is None or self._approximate.index is not self.index:
            self._approximate = ApproximateSearch(self.index)
        return self._approximate.top_k

    def _history_rows(self, histories, on_unknown: str) -> tuple[list[list[int]], list[list[str]]]:
        if isinstance(histories, (str, bytes)):
            raise ConfigError("histories must be a list of histories (each a list of raw item ids)")
        rows, skipped = [], []
        for n, history in enumerate(histories):
            if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
                raise ConfigError(f"history {n}: expected a list of raw item ids, got {history!r}")
            known, unknown = self.index.rows_of([str(h) for h in history])
            if unknown and on_unknown == "error":
                shown = ", ".join(repr(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
                raise DataError(
                    f"history {n}: {len(unknown)} item id(s) not in the catalog: {shown} "
                    f"(on_unknown='skip' leaves them out)"
                )
            if not known:
                raise DataError(f"history {n} holds no item of the catalog: nothing to recommend from")
            rows.append(known)
            skipped.append(unknown)
        return rows, skipped

    def _allowed(self, where, candidates, exclude) -> torch.Tensor | None:
        allowed = None if not where else self.index.where(where)
        for ids, keep in ((candidates, True), (exclude, False)):
            if ids is None:
                continue
            ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
            found, unknown = self.index.rows_of(ids)
            if unknown:
                what = "candidates" if keep else "exclude"
                raise DataError(
                    f"{what}: {len(unknown)} id(s) not in the catalog: {', '.join(map(repr, unknown[:10]))}"
                )
            mask = torch.zeros(self.n_items, dtype=torch.bool)
            mask[found] = True
            base = allowed if allowed is not None else torch.ones(self.n_items, dtype=torch.bool)
            allowed = base & (mask if keep else ~mask)
        return allowed

    def _queries(self, rows: list[list[int]]) -> torch.Tensor:
        """User vectors (B, d) of histories given as index rows (internal id = row + 1); with a "full"
        index, the model's scores of every item (B, n_items)."""
        histories = [np.array([r + 1 for r in h], dtype=np.int64) for h in rows]
        width = max(1, min(max((len(h) for h in histories), default=1), self.net.history_len))
        history = pad_left(histories, width).to(self.device)
        if self.index.scoring == "full":
            target = torch.zeros(len(histories), dtype=torch.long, device=self.device)
            return self.net.full_sort_predict(Batch(history, target))[:, 1:].float()
        return self.net.user_vectors(history).float()

    def _ranked(self, scores, rows, skipped: list[str], qualified: int) -> Recommendations:
        """One user's list from top-k scores (k,) and rows (k,) (-1 where fewer than k qualify)."""
        out = [
            {"rank": r + 1, **self.index.item(int(row)), "score": round(float(score), 6)}
            for r, (score, row) in enumerate(zip(scores.tolist(), rows.tolist(), strict=True))
            if row >= 0
        ]
        return Recommendations(out, skipped, qualified)
