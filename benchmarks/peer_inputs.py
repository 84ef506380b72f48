"""The inputs of ``recbole_peer.py``: RecBole's throw-away virtual environment and the dataset written
as RecBole's atomic ``.inter`` file (imported by both sides: standard library only at import time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

VENV_STEPS = (
    ["torch==2.13.0"],  # first: an unpinned torch would pull a CUDA build
    ["recbole==1.2.1"],
    ["numpy==1.23.5", "pandas==2.0.3", "scipy==1.11.4", "scikit-learn==1.3.2"],  # np.float/np.long
)


def ensure_venv(venv: Path) -> Path:
    """The virtual environment's python, installing RecBole into it on first use."""
    python, marker = venv / "bin" / "python", venv / ".laserrec-recbole-ready"
    wanted = json.dumps(VENV_STEPS)
    if marker.is_file() and marker.read_text() == wanted:
        return python
    print(f"building the RecBole environment in {venv} (a few minutes)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for packages in VENV_STEPS:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    marker.write_text(wanted)
    return python


def write_inputs(data_dir: str, work: Path, sample_users: int) -> tuple[Path, Path, dict]:
    """The prepared data (sampled if asked, items re-numbered to the ones seen) and its RecBole copy.

    Returns (prepared folder for ours, RecBole data_path holding NAME/NAME.inter, summary).
    """
    import numpy as np

    from laserrec.data.dataset import PreparedData

    data = PreparedData.load(data_dir)
    prepared = Path(data_dir).resolve()  # the runs are subprocesses in the scratch folder
    if sample_users and sample_users < data.n_users:
        keep = np.sort(np.random.default_rng(0).choice(data.n_users, sample_users, replace=False))
        seqs = [data.sequences[u] for u in keep]
        seen = np.unique(np.concatenate(seqs))  # internal ids, ascending
        remap = np.zeros(data.n_items + 1, dtype=np.int64)
        remap[seen] = np.arange(1, len(seen) + 1)
        data = PreparedData(
            [remap[s] for s in seqs],
            [data.items[0], *(data.items[i] for i in seen)],
            [data.user_ids[u] for u in keep],
            [data.item_ids[i - 1] for i in seen],
            name=f"{data.name}-sample{sample_users}",
        )
        prepared = data.save(work / "prepared", overwrite=True)  # this script's own scratch copy
    name = "peer"
    folder = work / "recbole" / name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.inter.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for u, seq in enumerate(data.sequences, start=1):
            f.writelines(f"{u}\t{int(item)}\t{t}\n" for t, item in enumerate(seq))
    os.replace(tmp, folder / f"{name}.inter")
    summary = {"users": data.n_users, "items": data.n_items, "interactions": data.n_interactions}
    return prepared, work / "recbole", summary
