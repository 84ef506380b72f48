"""laserrec: LLM-based sequential recommendation (Laser, SASRec, BERT4Rec, Lite-LLM4Rec, DARec)."""

import os

# With OpenMP's default active waiting, torch's threads spin against any other busy process on a small
# machine and run several times slower; passive waiting costs nothing measurable when alone. It only
# takes effect if set before torch starts its thread pool, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["load", "__version__"]


def load(run_dir, device="auto"):
    """A trained run, ready to recommend (see ``laserrec.inference.recommender``), on ``device``
    (auto: a CUDA GPU, else MPS, else the CPU, as the commands' ``--device`` | cpu | cuda | cuda:N | mps).

    >>> import laserrec
    >>> rec = laserrec.load("runs/ml/sasrec")             # doctest: +SKIP
    >>> rec.recommend(["50", "172"], k=10, exclude_history=True)   # doctest: +SKIP
    """
    from laserrec.inference.recommender import load as _load

    return _load(run_dir, device)
