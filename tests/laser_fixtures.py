"""Laser's shared test pieces: a six-item catalog, a batch of histories, a small Laser — the paper's
class, or LaserPlus when an addition is on (the
tiny Llama / GPT-2 / BERT ``backbone`` fixture is in conftest.py)."""

import torch

from conftest import FakeCF
from laserrec.data.dataset import ItemText
from laserrec.models.laser.model import Laser
from laserrec.models.laser.plus import LaserPlusConfig, laser_class

N_ITEMS = 6
ITEMS = [ItemText()] + [
    ItemText(
        title=f"widget model {i}" + " extra" * i, brand="Acme" if i % 2 else "", categories="Tools, Saws"
    )
    for i in range(1, N_ITEMS + 1)
]
HISTORY = torch.tensor([[0, 0, 0, 2], [3, 4, 5, 6], [0, 1, 2, 3]])  # rows of different prompt lengths
TARGET = torch.tensor([1, 2, 6])


def make(backbone, seed: int = 0, **overrides) -> Laser:
    values = dict(
        llm="tiny",
        dtype="fp32",
        n_prefix=3,
        n_experts=3,
        top_k=2,
        d_model=16,
        n_heads=2,
        max_history=4,
        max_prompt_tokens=128,
        encode_batch_size=4,
        dropout=0.0,
    )
    config = LaserPlusConfig(**{**values, **overrides})
    torch.manual_seed(seed)
    return laser_class(config)(config, N_ITEMS, ITEMS, backbone, FakeCF(N_ITEMS))
