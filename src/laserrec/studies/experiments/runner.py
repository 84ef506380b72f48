"""The cells of an experiment, run one by one: every cell is a run folder (``OUT/runs/NAME``) trained through
``pipeline.run_or_reuse`` — a finished run is reused, an interrupted one resumed — the models with no
gradient step (most popular, the text floor, the late fusion) as any other. Stopping an experiment loses
at most the step in progress of one cell.

With ``only`` the context trains just the cells named there (none: ``--partial``): any other finished run
is read, a model with no gradient step is fitted when its inputs are there (seconds), and every other cell
is a row marked ``not_run`` (``laserrec experiment ... --partial`` / ``--only``)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from laserrec.config import save_json
from laserrec.data.dataset import PreparedData, Split, leave_one_out
from laserrec.errors import ConfigError
from laserrec.studies.experiments.budget import Budget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cell:
    """One row of an experiment: a run of ``model`` with ``settings`` on top of the budget's.

    ``settings["recipe"]`` picks the run's recipe; ``cf`` names the cell whose run is the frozen ID model
    (Laser, DARec, the fusion); ``data`` is the prepared dataset (default: the experiment's ``--data``)."""

    name: str
    model: str
    settings: dict = field(default_factory=dict)
    cf: str | None = None
    data: Path | None = None
    label: str = ""

    def title(self) -> str:
        return self.label or self.name


class Context:
    """An experiment in progress: its folders, budget, the user's per-model settings, and what ran."""

    def __init__(
        self,
        name: str,
        data_dir: Path,
        out: Path,
        budget: Budget,
        overrides: dict[str, dict] | None = None,
        progress: bool = True,
        target: Path | None = None,
        runs: Path | None = None,
        only: frozenset[str] | None = None,
    ) -> None:
        self.name, self.data_dir, self.out, self.budget = name, Path(data_dir), Path(out), budget
        self.only = only
        self.runs = Path(runs) if runs else self.out / "runs"
        self.overrides, self.progress = overrides or {}, progress
        self.target = Path(target) if target else None
        self.results: dict[str, dict] = {}
        self.cells: dict[str, Cell] = {}
        self._data: dict[Path, tuple[PreparedData, Split]] = {}
        self.out.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ data
    def dataset(self, data_dir: Path | None = None) -> tuple[PreparedData, Split]:
        key = Path(data_dir or self.data_dir)
        if key not in self._data:
            data = PreparedData.load(key)
            self._data[key] = (data, leave_one_out(data))
        return self._data[key]

    def run_dir(self, cell: Cell | str) -> Path:
        return self.runs / (cell if isinstance(cell, str) else cell.name)

    # ------------------------------------------------------------------ cells
    def settings_of(self, cell: Cell) -> tuple[dict, str | None]:
        """The run's settings (budget < cell < the user's per model < the user's per cell) and its recipe."""
        values = {
            **self.budget.settings(cell.model),
            **cell.settings,
            **self.overrides.get(cell.model, {}),
            **self.overrides.get(cell.name, {}),
        }
        if cell.cf is not None:
            values["cf_run"] = str(self.run_dir(cell.cf))
        recipe = values.pop("recipe", None)
        return values, recipe

    def run(self, cell: Cell) -> dict:
        """Train (or reuse, or resume) a cell; its result row (kept in ``results``)."""
        if cell.name in self.cells and self.cells[cell.name] != cell:
            raise ConfigError(f"experiment {self.name}: two different cells named {cell.name!r}")
        self.cells[cell.name] = cell
        if cell.name not in self.results:
            if self.only is not None and cell.name not in self.only and not self._ready(cell):
                row = {"cell": cell.name, "label": cell.title(), "model": cell.model, "not_run": True}
                self.results[cell.name] = row
                return self.results[cell.name]
            log.info(f"[{self.name}] cell {cell.name} ({cell.model})")
            row = self._train(cell)
            self.results[cell.name] = {"cell": cell.name, "label": cell.title(), **row}
        return self.results[cell.name]

    def not_run(self) -> list[str]:
        """The cells an experiment run with ``only`` found not finished, in the order they were asked for."""
        return [name for name, row in self.results.items() if row.get("not_run")]

    def _ready(self, cell: Cell) -> bool:
        """Whether the cell can be shown without training: a finished run, or a model with no gradient step
        (most popular, the text floor, the fusion) whose ID run, if it reads one, has finished."""
        from laserrec.models.registry import get_spec

        if not get_spec(cell.model).gradient_steps:
            return cell.cf is None or (self.run_dir(cell.cf) / "metrics.json").exists()
        return (self.run_dir(cell) / "metrics.json").exists()

    def _train(self, cell: Cell) -> dict:
        from laserrec.pipeline import run_or_reuse

        values, recipe = self.settings_of(cell)
        self._claim(cell, values, recipe)
        row = run_or_reuse(
            cell.model, cell.data or self.data_dir, self.run_dir(cell), values, recipe, self.progress
        )
        run_config = json.loads((self.run_dir(cell) / "config.json").read_text(encoding="utf-8"))
        shown = {k: v for k, v in values.items() if k != "cf_run"}  # a path of this machine: name the cell
        if cell.cf is not None:
            shown["cf"] = cell.cf
        if shown.get("init_from"):
            shown["init_from"] = Path(shown["init_from"]).name  # a cell of the same runs folder
        return {**row, "recipe": run_config.get("recipe"), "settings": shown}

    def _claim(self, cell: Cell, values: dict, recipe: str | None) -> None:
        """Record what the cell's run folder holds (cell.json), and refuse a folder that holds a run of
        other settings: experiments sharing a runs folder reuse each other's runs only when they agree."""
        record = {"model": cell.model, "recipe": recipe, "cf": cell.cf}
        record["settings"] = {k: v for k, v in sorted(values.items()) if k != "cf_run"}
        path = self.run_dir(cell) / "cell.json"
        if path.exists():
            held = json.loads(path.read_text(encoding="utf-8"))
            if held != record:
                raise ConfigError(
                    f"{self.run_dir(cell)} holds a run of other settings ({held['model']}, recipe "
                    f"{held['recipe']}, {held['settings']}); this experiment's cell {cell.name} wants "
                    f"{record['settings']}: use another --runs folder"
                )
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        save_json(record, path)

    def ranks(self, cell: Cell | str, split_name: str = "test") -> np.ndarray:
        """0-based target ranks of every user of the split (cached with the run)."""
        from laserrec.training.loading import run_ranks

        name = cell if isinstance(cell, str) else cell.name
        return run_ranks(self.run_dir(name), split_name, self.progress)

    # ------------------------------------------------------------------ records
    def cell_wall_seconds(self) -> float:
        """Time the cells took when they ran (a reused cell counts its original run)."""
        seconds = [
            max(float(r.get(k) or 0) for k in ("wall_seconds", "fit_wall_seconds"))
            for r in self.results.values()
        ]
        return round(sum(seconds), 1)
