"""Hide a share of the items from a dataset: the items and every interaction with them leave it, and their
text is kept aside (in ``meta.json``, in the schema ``laserrec add-items`` reads) — to measure recommending
items that no model was trained on. Deterministic: the same dataset, share and seed hide the same items.
``laserrec prepare --hide-items SHARE --seed N`` applies it; ``laserrec add-items RUN --items DATA_DIR``
adds a prepared dataset's hidden items to a run."""

from __future__ import annotations

import numpy as np

from laserrec.data.dataset import ItemText, PreparedData
from laserrec.errors import ConfigError


def hide_items(data: PreparedData, share: float, seed: int = 0) -> tuple[PreparedData, list[dict]]:
    """``data`` without round(share * n_items) items drawn uniformly (``seed``), and those items' rows
    ``{"item", "title", "brand", "categories", "description"}`` in their original id order.

    Remaining items keep their order and are renumbered 1..n; users left with no interaction go. The
    returned dataset's ``meta["hidden_items"]`` records the share, seed, count and the rows."""
    if not 0 < share < 1:
        raise ConfigError(f"hide_items: share must be between 0 and 1, got {share}")
    n_hidden = int(round(share * data.n_items))
    if not 0 < n_hidden < data.n_items:
        raise ConfigError(f"hide_items: share {share} of {data.n_items} items hides {n_hidden}")
    hidden = np.sort(
        np.random.default_rng(seed).choice(np.arange(1, data.n_items + 1), n_hidden, replace=False)
    )
    keep = np.ones(data.n_items + 1, dtype=bool)
    keep[0], keep[hidden] = False, False
    new_id = np.zeros(data.n_items + 1, dtype=np.int64)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1)
    sequences, users = [], []
    for user, seq in zip(data.user_ids, data.sequences, strict=True):
        kept = new_id[seq[keep[seq]]]
        if len(kept):
            sequences.append(kept)
            users.append(user)
    old = np.flatnonzero(keep)  # the kept original ids, in order
    rows = [{"item": data.item_ids[i - 1], **data.items[i].to_dict()} for i in hidden.tolist()]
    meta = {
        **data.meta,
        "hidden_items": {
            "share": share,
            "seed": seed,
            "count": n_hidden,
            "users_dropped": data.n_users - len(users),
            "items": rows,
        },
    }
    visible = PreparedData(
        sequences,
        [ItemText(), *(data.items[i] for i in old.tolist())],
        users,
        [data.item_ids[i - 1] for i in old.tolist()],
        name=data.name,
        meta=meta,
    )
    return visible, rows
