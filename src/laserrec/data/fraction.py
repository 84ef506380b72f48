"""Keep a share of a dataset's users — the low-resource settings of the transfer experiment (the target
domain with 5%, 10%, ... of its training users). Every item stays, under the same id, so a model trained on
any share ranks the same catalog; the users kept keep their order.

Deterministic and nested: the users are one permutation drawn with ``seed``, and a share keeps its first
``round(share * n_users)``, so for one seed the users of 5% are among those of 10%.
``laserrec prepare --train-users SHARE --seed N`` applies it."""

from __future__ import annotations

import numpy as np

from laserrec.data.dataset import PreparedData
from laserrec.errors import ConfigError


def user_order(n_users: int, seed: int) -> np.ndarray:
    """The permutation of user indices the shares are cut from."""
    return np.random.default_rng(seed).permutation(n_users)


def keep_users(data: PreparedData, share: float, seed: int = 0) -> PreparedData:
    """``data`` with only ``round(share * n_users)`` of its users (at least one); items unchanged.
    ``meta["train_users"]`` records the share, seed, count and the users left out."""
    if not 0 < share <= 1:
        raise ConfigError(f"train_users: share must be in (0, 1], got {share}")
    n_keep = max(1, int(round(share * data.n_users)))
    kept = np.sort(user_order(data.n_users, seed)[:n_keep])
    meta = {
        **data.meta,
        "train_users": {
            "share": share,
            "seed": seed,
            "count": n_keep,
            "users_dropped": data.n_users - n_keep,
        },
    }
    return PreparedData(
        [data.sequences[u] for u in kept],
        list(data.items),
        [data.user_ids[u] for u in kept],
        list(data.item_ids),
        name=data.name,
        meta=meta,
    )
