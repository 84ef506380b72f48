"""Approximate top-k over a large item index with FAISS (``pip install "laserrec[faiss]"``).

An inverted-file index (``IndexIVFFlat``, inner product; a per-item bias becomes one more dimension, with
1 on the query side) fetches more candidates than asked for; their exact scores are then taken, the repeat
offset and per-user exclusions applied, and the best k kept. The shared filters (item fields, candidate
and exclusion lists) go into the search itself as an id selector, so they hold before the cut; where the
fetched candidates leave fewer than k for a user although k qualify, that user is ranked exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from laserrec.errors import ConfigError
from laserrec.inference.index import qualifying

APPROX_MIN_ITEMS = 200_000  # "auto" searches approximately from this catalog size up


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class ApproximateSearch:
    """An IVF index over ``index.vectors`` (+ bias), built once per catalog (about a minute for 1M)."""

    def __init__(self, index, n_lists: int | None = None, n_probe: int = 32, seed: int = 0) -> None:
        try:
            import faiss
        except ImportError:
            raise ConfigError('approximate search needs FAISS: pip install "laserrec[faiss]"') from None
        self.index, self.faiss = index, faiss
        # FAISS searches on the CPU, whatever device the exact index is on
        self.vectors = index.vectors.float().cpu()
        self.bias = None if index.bias is None else index.bias.float().cpu()
        data = self._items()
        n, d = data.shape
        n_lists = n_lists or max(1, min(4096, int(4 * math.sqrt(n)), n // 39))  # FAISS wants 39 per list
        quantizer = faiss.IndexFlatIP(d)
        self.ivf = faiss.IndexIVFFlat(quantizer, d, n_lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).choice(n, min(n, 64 * n_lists), replace=False)  # k-means sample
        self.ivf.train(data[np.sort(sample)])
        self.ivf.add(data)
        self.n_probe = min(n_probe, n_lists)

    def _items(self) -> np.ndarray:
        v = self.vectors
        if self.bias is not None:
            v = torch.cat([v, self.bias[:, None]], 1)
        return np.ascontiguousarray(v.numpy(), dtype=np.float32)

    def _queries(self, queries: torch.Tensor) -> np.ndarray:
        q = queries.float()
        if self.bias is not None:
            q = torch.cat([q, torch.ones(q.shape[0], 1)], 1)
        return np.ascontiguousarray(q.numpy(), dtype=np.float32)

    def top_k(self, queries, k, allowed=None, offset_rows=None, offset=0.0, excluded_rows=None):
        """As ``ItemIndex.top_k`` (same inputs and outputs), approximately."""
        queries = queries.float().cpu()
        allowed = None if allowed is None else allowed.cpu()
        extra = max((len(r) for r in (excluded_rows or []) + (offset_rows or [])), default=0)
        fetch = min(self.index.n_items, 2 * k + extra)
        params = self.faiss.SearchParametersIVF(nprobe=self.n_probe)
        if allowed is not None:
            bits = np.packbits(allowed.numpy().astype(np.uint8), bitorder="little")
            params.sel = self.faiss.IDSelectorBitmap(len(allowed), self.faiss.swig_ptr(bits))
        _, found = self.ivf.search(self._queries(queries), fetch, params=params)
        found = torch.from_numpy(found).long()  # (B, F), -1 where the probe found nothing more
        rows = found.clamp(min=0)
        s = (self.vectors[rows] * queries[:, None, :]).sum(-1)  # exact scores (B, F)
        if self.bias is not None:
            s = s + self.bias[rows]
        s = s.masked_fill(found < 0, float("-inf"))
        for i in range(len(found)):
            if offset and offset_rows is not None and offset_rows[i]:
                s[i] -= offset * torch.isin(found[i], torch.tensor(offset_rows[i]))
            if excluded_rows is not None and excluded_rows[i]:
                s[i] = s[i].masked_fill(torch.isin(found[i], torch.tensor(excluded_rows[i])), float("-inf"))
        top = s.topk(min(k, fetch), dim=1)
        scores = torch.cat(
            [top.values, top.values.new_full((len(found), k - top.values.shape[1]), float("-inf"))], 1
        )
        picked = torch.cat(
            [found.gather(1, top.indices), found.new_full((len(found), k - top.values.shape[1]), -1)], 1
        )
        picked = picked.masked_fill(torch.isinf(scores), -1)
        qualify = qualifying(self.index.n_items, allowed, excluded_rows, len(found))
        for i in range(len(found)):  # where the probe missed, rank that user exactly
            need = min(k, qualify[i])
            if int((picked[i] >= 0).sum()) < need:
                exact = self.index.top_k(
                    queries[i : i + 1], k, allowed, _one(offset_rows, i), offset, _one(excluded_rows, i)
                )
                scores[i], picked[i] = exact[0][0].cpu(), exact[1][0].cpu()
        return scores, picked


def _one(rows: list[list[int]] | None, i: int) -> list[list[int]] | None:
    return None if rows is None else [rows[i]]
