"""The one training loop: epochs (optionally in phases), validation, early stopping, checkpoints, resume.

Resuming is exact: sample order is a function of (seed, epoch), and the checkpoint holds the torch RNG
state, the optimizer and the position inside the epoch, so an interrupted run ends where an
uninterrupted one would.

Under torchrun each rank trains on its share of every global batch (``training/samples.py``) through
DistributedDataParallel, validates its share of the users, and only rank 0 writes (``laserrec.distributed``).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from laserrec import distributed
from laserrec.config import save_json
from laserrec.data.dataset import Split
from laserrec.device import rng_state, set_rng_state
from laserrec.errors import CheckpointError, ConfigError, LaserrecError
from laserrec.evaluation.evaluator import evaluate
from laserrec.models.base import Recommender
from laserrec.training.checkpoint import load_checkpoint, save_checkpoint
from laserrec.training.config import TrainConfig
from laserrec.training.samples import SampleSet, heldout_sequences


class Interrupted(LaserrecError):
    """Training stopped by Ctrl-C / SIGTERM after a checkpoint was written."""


@dataclass
class TrainState:
    phase_idx: int = 0
    epoch: int = 0  # epochs finished in the current phase
    step: int = 0  # next step inside the current epoch
    global_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    best_score: float = float("-inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    train_seconds: float = 0.0  # optimizer steps only
    wall_seconds: float = 0.0  # everything fit() did: steps, item encoding, validation
    stopped_by: str = ""  # "" | "time budget"
    history: list = field(default_factory=list)
    fitted: dict = field(default_factory=dict)  # what a model with no gradient steps chose (its fit)


class Trainer:
    def __init__(
        self,
        model: Recommender,
        split: Split,
        cfg: TrainConfig,
        run_dir: Path,
        run_config: dict,
        progress: bool = True,
    ):
        """The model is trained where it is (``model.to_device`` first)."""
        self.model, self.split, self.cfg, self.run_dir = model, split, cfg, Path(run_dir)
        self.run_config, self.progress = run_config, progress and distributed.is_main()
        self.device = model.device
        model.show_progress = self.progress
        self.valid = split.valid.sample(cfg.valid_users, cfg.seed)
        heldout = cfg.train_on == "heldout"
        if heldout and model.train_mode != "prefix":
            raise ConfigError(
                f"train_on=heldout is for the LLM models; {type(model).__name__} trains on whole sequences"
            )
        self.samples = SampleSet(
            heldout_sequences(split.valid, self.valid) if heldout else split.train,
            model.train_mode,
            model.history_len,
            cfg.seed,
            cfg.samples_per_epoch,
            last_only=heldout,
        )
        if len(self.samples) == 0:
            raise LaserrecError(
                "no training samples: train_on=heldout needs valid_users smaller than the number of users"
                if heldout
                else "no training samples: every user has fewer than 2 training interactions"
            )
        # a model with no gradient steps is fitted once, whatever ``epochs`` says
        self.schedule = model.phase_schedule(cfg.epochs) if model.gradient_steps else [(0, 1)]
        self.state = TrainState()
        if cfg.grad_checkpointing:
            model.checkpoint_frozen_llm()
        steps = model.gradient_steps
        self._ddp = distributed.ddp(model, self.device) if steps else None  # None with one process
        if distributed.rank() > 0:  # dropout and sampling draw their own numbers on every rank
            torch.manual_seed(cfg.seed + distributed.rank())
        self.optimizer = self._new_optimizer(self.schedule[0][0]) if steps else None
        self._stop_requested = self._resumed = False
        self._fit_start, self._wall_base = time.perf_counter(), 0.0

    def _elapsed(self) -> float:
        return self._wall_base + time.perf_counter() - self._fit_start

    def _local_over_budget(self) -> bool:
        return 0 < self.cfg.max_train_minutes * 60 <= self._elapsed()

    def _over_budget(self) -> bool:
        """Every rank takes the same decision (each rank's clock differs a little)."""
        return distributed.any_true(self._local_over_budget())

    def _say(self, line: str) -> None:
        if distributed.is_main():
            tqdm.write(line)

    # ------------------------------------------------------------ helpers
    def _new_optimizer(self, phase: int) -> torch.optim.Optimizer:
        groups = self.model.param_groups(phase, self.cfg.lr)
        return torch.optim.AdamW(groups, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def _payload(self) -> dict:
        """What a checkpoint holds (weights on the CPU, so it loads on any device); collective under
        torchrun: every rank's random state is kept."""
        self.state.wall_seconds = self._elapsed()
        rng = distributed.gather_objects(rng_state(self.device))
        return {
            "model": {k: v.cpu() for k, v in self.model.trainable_state_dict().items()},
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "state": dataclasses.asdict(self.state),
            "torch_rng": rng[0]["cpu"],
            "rng_by_rank": rng,
            "model_config": self.run_config["model_config"],
            "n_items": self.split.n_items,
        }

    def _save(self, name: str, payload: dict) -> None:
        """Rank 0 writes; every rank goes on once the file is there."""
        if distributed.is_main():
            save_checkpoint(self.run_dir / name, payload)
        distributed.barrier()

    def _save_last(self) -> None:
        self._save("last.pt", self._payload())

    def resume(self) -> None:
        """Load ``last.pt`` (verified: a damaged one raises before anything is written) and go on from it.

        A run that had finished gets its last phase back if the settings now allow more of it (more
        ``epochs``, a larger ``patience``), as if it had never stopped; otherwise it is said that there
        is nothing more to train."""
        ckpt = load_checkpoint(self.run_dir / "last.pt", self.run_config["model_config"], self.split.n_items)
        self.model.load_trainable_state_dict(ckpt["model"])
        self.state = TrainState(**{**ckpt["state"], "stopped_by": ""})  # a new budget may let it go on
        if self.state.phase_idx >= len(self.schedule):
            self._reopen_last_phase()
        phase = self.schedule[min(self.state.phase_idx, len(self.schedule) - 1)][0]
        self.model.set_phase(phase)
        try:
            if self.optimizer is not None:
                self.optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError as e:  # a checkpoint from a version that grouped the parameters differently
            raise CheckpointError(
                f"{self.run_dir / 'last.pt'}: its optimizer state does not match this version's parameter "
                f"groups ({e}); resume it with the laserrec version that wrote it, or start a new run"
            ) from None
        by_rank = ckpt.get("rng_by_rank") or [ckpt["torch_rng"]]
        own = distributed.rank() if len(by_rank) == distributed.world() else 0
        set_rng_state(by_rank[own], self.device)
        self._resumed = True
        if self.state.phase_idx >= len(self.schedule):
            self._say(
                f"{self.run_dir} had finished (every epoch of its schedule, or early stopping): with these "
                "settings there is nothing more to train; its best checkpoint is tested again"
            )
        else:
            where = f"{self._label(phase)}, step {self.state.step}"
            self._say(f"resumed from {self.run_dir / 'last.pt'}: {where}")

    def _reopen_last_phase(self) -> None:
        """Put a finished run back inside its last phase: the epochs it ran there and the validations
        since its best, from its log, so the loop's own tests decide whether the phase goes on."""
        st, last = self.state, len(self.schedule) - 1
        phase, max_epochs = self.schedule[last]
        ran = [row for row in st.history if row.get("phase") == phase]
        validated = [row for row in ran if self.cfg.valid_metric in row]
        bad = sum(1 for row in validated if row["epoch"] > st.best_epoch)
        if len(ran) < max_epochs and (bad < self.cfg.patience or len(ran) < self.cfg.min_epochs):
            st.phase_idx, st.epoch, st.step, st.bad_epochs = last, len(ran), 0, bad

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        if self._stop_requested:  # second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self._stop_requested = True
        self._say("stopping after this step (checkpoint follows); press Ctrl-C again to abort at once")

    # ------------------------------------------------------------ loop
    def fit(self, resume: bool = False) -> TrainState:
        """Train to the end of the schedule, early stopping or the time budget; ``resume``: from last.pt
        (unless ``resume()`` was called already)."""
        if resume and not self._resumed:
            self.resume()
        self._fit_start, self._wall_base = time.perf_counter(), self.state.wall_seconds
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        # Some CPU kernels (e.g. in Laser's backward pass) accumulate in thread order unless asked not to:
        # without this, two runs with the same seed drift apart after one step.
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(self.cfg.deterministic, warn_only=True)
        try:
            if not self.model.gradient_steps:
                if self.state.phase_idx == 0:
                    self._fit_statistics()
                return self.state
            while self.state.phase_idx < len(self.schedule) and not self._over_budget():
                self._run_phase()
            if self.state.phase_idx < len(self.schedule):
                self.state.stopped_by = "time budget"
                self._say(
                    f"time budget of {self.cfg.max_train_minutes:g} minutes reached: training stops here"
                )
                self._save_last()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            torch.use_deterministic_algorithms(was_deterministic)
        return self.state

    def _run_phase(self) -> None:
        st = self.state
        phase, max_epochs = self.schedule[st.phase_idx]
        if st.phase_idx > 0 and st.epoch == 0 and st.step == 0 and (self.run_dir / "best.pt").exists():
            # a later phase starts from the best epoch of the previous one, with a fresh optimizer
            best = load_checkpoint(
                self.run_dir / "best.pt", self.run_config["model_config"], self.split.n_items
            )
            self.model.load_trainable_state_dict(best["model"])
            self.optimizer = self._new_optimizer(phase)
            st.bad_epochs = 0
        self.model.set_phase(phase)
        while (
            st.epoch < max_epochs
            and not self._over_budget()
            and (st.bad_epochs < self.cfg.patience or st.epoch < self.cfg.min_epochs)
        ):
            self._run_epoch(phase)
        if self._over_budget():
            return  # fit() stops here; the phase is not marked done
        st.phase_idx, st.epoch, st.step, st.bad_epochs = st.phase_idx + 1, 0, 0, 0
        self._save_last()

    def _run_epoch(self, phase: int) -> None:
        st, cfg = self.state, self.cfg
        self.model.train()
        if st.step == 0:
            st.loss_sum = 0.0
            self.model.on_epoch_start(st.global_epoch)
        n_batches = self.samples.n_batches(cfg.batch_size)
        bar = tqdm(
            total=n_batches,
            initial=st.step,
            desc=self._label(phase),
            leave=False,
            disable=not self.progress,
            dynamic_ncols=True,
        )
        start = time.perf_counter()
        rank, world = distributed.rank(), distributed.world()
        for step, batch, share in self.samples.shards(st.global_epoch, cfg.batch_size, st.step, rank, world):
            loss, logs = (self._ddp or self.model.calculate_loss)(batch.to(self.device))
            self.optimizer.zero_grad(set_to_none=True)
            (loss * (share * world) if world > 1 else loss).backward()  # DDP averages over the ranks
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            st.step, st.global_step = step + 1, st.global_step + 1
            # one exchange per step: the batch's loss, and the decisions every rank must take together (a
            # signal may reach the ranks at different steps; their clocks differ a little)
            batch_loss, stops, overs = distributed.sum_values(
                [loss.item() * share, float(self._stop_requested), float(self._local_over_budget())]
            )
            stop = stops > 0
            st.loss_sum += batch_loss
            bar.update(1)
            bar.set_postfix(
                loss=f"{st.loss_sum / (step + 1):.4f}", **{k: f"{v:.3f}" for k, v in logs.items()}
            )
            if stop or (cfg.save_every_steps and st.step % cfg.save_every_steps == 0):
                st.train_seconds += time.perf_counter() - start
                start = time.perf_counter()
                self._save_last()
                if not self.progress:  # no bar: leave a trace in the log at every checkpoint
                    self._say(
                        f"epoch {st.global_epoch} step {st.step}/{n_batches} loss "
                        f"{st.loss_sum / (step + 1):.4f} ({st.train_seconds:.0f}s)"
                    )
                if stop:
                    bar.close()
                    raise Interrupted(
                        f"interrupted at epoch {st.global_epoch} step {st.step}; checkpoint saved "
                        f"in {self.run_dir / 'last.pt'} — continue with --resume"
                    )
            if overs > 0:
                break  # the epoch is cut short here and validated below
        bar.close()
        st.train_seconds += time.perf_counter() - start
        self._end_epoch(phase, st.loss_sum / max(1, st.step))

    def _fit_statistics(self) -> None:
        """A model with no gradient steps (most popular, text, fusion): fitted once from the training
        sequences (``Recommender.fit_statistics``), validated and saved as the best checkpoint — epoch 0
        of a run that runs no epochs (``epochs_run`` stays 0)."""
        st, metric = self.state, self.cfg.valid_metric
        start = time.perf_counter()
        found = self.model.fit_statistics(self.split.train, lambda: self._validate(False)[metric])
        st.fitted = {**found, "valid_metric": metric} if found else {}
        metrics = self._validate(self.progress)
        st.train_seconds = time.perf_counter() - start
        st.best_score, st.best_epoch, st.phase_idx = metrics[metric], 0, len(self.schedule)
        self._save("best.pt", {**self._payload(), "optimizer": None})
        row = {"epoch": 0, "phase": 0, "fitted": st.fitted, "train_seconds": round(st.train_seconds, 2)}
        row.update({k: round(v, 5) for k, v in metrics.items() if isinstance(v, float)})
        st.history.append(row)
        self._say(f"fitted with no gradient steps: valid {metric} {metrics[metric]:.4f}")
        self._save_last()
        self._write_log()

    def _validate(self, progress: bool) -> dict:
        """Full-ranking metrics of the model as it stands on the validation users."""
        metrics, _ = evaluate(
            self.model,
            self.valid,
            self.model.history_len,
            self.cfg.cutoffs(),
            batch_size=self.cfg.eval_batch_size,
            mask_seen=self.cfg.mask_seen,
            progress=progress,
        )
        return metrics

    def _write_log(self) -> None:
        if distributed.is_main():
            tmp = self.run_dir / ".log.jsonl.tmp"  # rewritten whole, so it always matches the checkpoint
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.state.history), encoding="utf-8")
            tmp.replace(self.run_dir / "log.jsonl")

    def _label(self, phase: int) -> str:
        return f"epoch {self.state.global_epoch}" + (f" (phase {phase})" if len(self.schedule) > 1 else "")

    def _end_epoch(self, phase: int, loss: float) -> None:
        st = self.state
        row = {
            "epoch": st.global_epoch,
            "phase": phase,
            "loss": round(loss, 5),
            "train_seconds": round(st.train_seconds, 2),
        }
        if (st.epoch + 1) % self.cfg.eval_every == 0:
            metrics = self._validate(self.progress)
            score = metrics[self.cfg.valid_metric]
            row.update({k: round(v, 5) for k, v in metrics.items() if isinstance(v, float)})
            if score > st.best_score:
                st.best_score, st.best_epoch, st.bad_epochs = score, st.global_epoch, 0
                self._save("best.pt", {**self._payload(), "optimizer": None})
            else:
                st.bad_epochs += 1
        st.history.append(row)
        self._say(self._epoch_line(row))
        st.epoch, st.global_epoch, st.step = st.epoch + 1, st.global_epoch + 1, 0
        self._save_last()
        self._write_log()

    def _epoch_line(self, row: dict) -> str:
        metric = self.cfg.valid_metric
        val = f"valid {metric} {row[metric]:.4f}" if metric in row else "no validation"
        best = " *" if row["epoch"] == self.state.best_epoch else ""
        return f"epoch {row['epoch']:3d}  loss {row['loss']:.4f}  {val}{best}  ({row['train_seconds']:.0f}s)"


def load_best(model: Recommender, run_dir: Path, model_config: dict, n_items: int) -> dict:
    """Load the best checkpoint of a run into ``model``; returns the checkpoint dict."""
    path = Path(run_dir) / "best.pt"
    if not path.exists():
        raise CheckpointError(
            f"{run_dir} has no best.pt — was the run trained (laserrec train) to its first validation?"
        )
    ckpt = load_checkpoint(path, model_config, n_items)
    model.load_trainable_state_dict(ckpt["model"])
    return ckpt


__all__ = ["Trainer", "TrainState", "Interrupted", "load_best", "save_json"]
