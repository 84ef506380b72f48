"""A frozen ID model over a catalog that grew after it was trained (items added by their text).

An item the ID model never saw has no vector of its own, so laserrec defines what it reads instead: in a
user's history such an item is read as padding (the ID model sees the sequence without it), and as an
item on its own (Laser's item prompt) its collaborative vector is the mean of the ID model's item
embeddings — an average item, which carries no collaborative signal either way.
"""

from __future__ import annotations

import torch

from laserrec.models.base import CollaborativeEncoder, move_cf


class UnseenItems(CollaborativeEncoder):
    """``cf`` for item ids 1..n_known; ids above that are the items added later."""

    def __init__(self, cf: CollaborativeEncoder, n_known: int) -> None:
        self.cf, self.n_known = cf, n_known
        self.hidden_size = cf.hidden_size
        self.config = getattr(cf, "config", None)
        with torch.no_grad():
            device = next(iter(cf.parameters())).device if hasattr(cf, "parameters") else None
            known = cf.item_states(torch.arange(1, n_known + 1, device=device))  # (n_known, 1, d)
        self.mean_item = known.mean(0, keepdim=True)  # (1, 1, d)

    def to_device(self, device: torch.device) -> None:
        move_cf(self.cf, device)
        self.mean_item = self.mean_item.to(device)

    def known(self, ids: torch.Tensor) -> torch.Tensor:
        """Whether the ID model was trained on each id (padding 0 is not an item). Same shape as ids."""
        return (ids > 0) & (ids <= self.n_known)

    def sequence_states(self, history: torch.Tensor) -> torch.Tensor:
        return self.cf.sequence_states(history.masked_fill(history > self.n_known, 0))

    def item_states(self, items: torch.Tensor) -> torch.Tensor:
        states = self.cf.item_states(items.clamp(max=self.n_known))  # (B, 1, d)
        unseen = (items > self.n_known)[:, None, None]
        return torch.where(unseen, self.mean_item.to(states.dtype), states)
