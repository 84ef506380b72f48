import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its threads (see laserrec/__init__)

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from laserrec.data.dataset import ItemText, PreparedData
from laserrec.models.base import CollaborativeEncoder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def make_data(n_users: int = 40, n_items: int = 30, seed: int = 0, min_len: int = 3, max_len: int = 12):
    """A small synthetic dataset with a learnable pattern: users walk through items in steps of 1 or 2."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        start, step = rng.integers(1, n_items + 1), rng.integers(1, 3)
        n = rng.integers(min_len, max_len + 1)
        seqs.append(np.array([(start - 1 + step * k) % n_items + 1 for k in range(n)], dtype=np.int64))
    items = [ItemText()] + [
        ItemText(title=f"item {i}", brand=f"brand {i % 3}", categories=f"A,cat {i % 4}")
        for i in range(1, n_items + 1)
    ]
    return PreparedData(
        seqs, items, [f"u{u}" for u in range(n_users)], [f"i{i}" for i in range(1, n_items + 1)], name="toy"
    )


@pytest.fixture
def toy_data():
    return make_data()


@pytest.fixture
def toy_dir(tmp_path, toy_data):
    return toy_data.save(tmp_path / "toy")


@pytest.fixture(scope="module", params=["llama", "gpt2", "bert"])
def backbone(request):
    """Tiny offline Llama, GPT-2 and BERT backbones (each test module builds its own)."""
    from tiny_backbones import build_tiny_backbone

    return build_tiny_backbone(request.param)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    """A tiny Llama saved as a local folder: the ``llm`` value for code that loads a model by name."""
    from tiny_backbones import save_tiny_backbone

    return save_tiny_backbone(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny tensors: one thread is faster, and immune to thread stalls on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


sys.path.insert(0, str(Path(__file__).parent))


class FakeCF(nn.Module, CollaborativeEncoder):
    """An nn.Embedding standing in for a trained SASRec (so M-Former gets collaborative states)."""

    def __init__(self, n_items: int, d: int = 8) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.hidden_size = d

    def sequence_states(self, history):
        return self.emb(history)  # (B, T, d)

    def item_states(self, items):
        return self.emb(items).unsqueeze(1)  # (B, 1, d)

    def full_sort_predict(self, batch):
        """Scores as SASRec's: the last state's dot product with every item, column 0 = -inf."""
        scores = self.emb(batch.history[:, -1]) @ self.emb.weight.T  # (B, n_items + 1)
        scores[:, 0] = float("-inf")
        return scores
