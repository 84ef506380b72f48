"""A checkpoint carries a checksum of its contents; a damaged one is refused by name."""

from __future__ import annotations

import torch

from cli_run import one_line, run, train_sasrec


def damage_weights(path, n_bytes: int = 4096) -> None:
    """Overwrite ``n_bytes`` inside the stored bytes of the checkpoint's largest tensor (its pickle and
    zip records stay readable, so only a checksum can tell)."""
    weights = torch.load(path, weights_only=False)["model"]
    largest = max(weights.values(), key=lambda t: t.numel())
    stored = largest.contiguous().view(torch.uint8).numpy().tobytes()
    raw = bytearray(path.read_bytes())
    start = raw.find(stored[:256])
    assert start >= 0
    n = min(n_bytes, len(stored))
    raw[start : start + n] = bytes((b + 1) % 256 for b in raw[start : start + n])
    path.write_bytes(bytes(raw))


def test_a_damaged_best_pt_is_refused_by_name(tmp_path, toy_dir):
    assert train_sasrec(toy_dir, tmp_path / "run", "--hidden_size=64", "--inner_size=64")[0] == 0
    assert run("evaluate", tmp_path / "run")[0] == 0
    damage_weights(tmp_path / "run" / "best.pt")
    code, message = run("evaluate", tmp_path / "run")
    assert code == 2 and one_line(message)
    assert str(tmp_path / "run" / "best.pt") in message and "damaged" in message


def test_a_damaged_last_pt_is_refused_on_resume(tmp_path, toy_dir):
    assert train_sasrec(toy_dir, tmp_path / "run", "--hidden_size=64", "--inner_size=64")[0] == 0
    damage_weights(tmp_path / "run" / "last.pt")
    code, message = run("train", "-m", "sasrec", "--out", tmp_path / "run", "--resume", "-q")
    assert code == 2 and "last.pt" in message and "damaged" in message


def test_the_checksum_survives_a_save_load_round_trip(tmp_path, toy_dir):
    from laserrec.training.checkpoint import load_checkpoint, payload_checksum

    assert train_sasrec(toy_dir, tmp_path / "run")[0] == 0
    for name in ("best.pt", "last.pt"):
        raw = torch.load(tmp_path / "run" / name, weights_only=False)
        assert raw["checksum"] == payload_checksum(raw)
        assert load_checkpoint(tmp_path / "run" / name)["checksum"] == raw["checksum"]
