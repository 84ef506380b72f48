"""A run's inputs: where its dataset and its frozen ID run (``cf_run``) are, and whether they are still the
ones it was trained on.

``config.json`` records, beside every setting::

    "data": "/abs/path/prepared", "data_from_run": "../../data/prepared", "data_hash": "<sha256>",
    "cf_run": {"path": "/abs/path/sasrec", "from_run": "../sasrec", "checkpoint": "<sha256>"}  (or null)

``data_hash`` is the dataset's content hash (``PreparedData.content_hash``); ``checkpoint`` is the checksum
of the ID run's ``best.pt`` (``training.checkpoint``). Each input is looked for at the place given now
(``--data`` / ``--cf``), else relative to the run folder, else at its recorded absolute path; the first
whose hash matches is used, so a run folder moved or copied together with its inputs still loads. A
changed input is refused with both hashes unless ``accept_changed`` says to use it anyway.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from laserrec.data.dataset import PreparedData
from laserrec.errors import CheckpointError, ConfigError, DataError
from laserrec.training.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def short(digest: str | None) -> str:
    return str(digest)[:16]


def _relative(target: Path, run_dir: Path) -> str | None:
    try:
        return os.path.relpath(target.resolve(), run_dir.resolve())
    except ValueError:  # another drive: there is no relative path
        return None


def _moved(what: str, place: Path, recorded: str) -> None:
    log.warning(
        f"note: {what} found at {place} (recorded at {recorded}; same hash): its new place is recorded"
    )


def data_record(run_dir: Path, data_dir: Path, data: PreparedData) -> dict:
    """The ``data*`` entries of config.json for a run trained on ``data`` read from ``data_dir``."""
    return {
        "data": str(Path(data_dir).resolve()),
        "data_from_run": _relative(Path(data_dir), run_dir),
        "data_hash": data.known_hash(),
    }


def cf_record(run_dir: Path, cf: object) -> dict | None:
    """The ``cf_run`` entry of config.json: the ID run a model read (``load_frozen_cf`` tags it), or None."""
    source = getattr(cf, "source_run", None)
    if cf is None or source is None:
        return None
    return {
        "path": str(Path(source).resolve()),
        "from_run": _relative(Path(source), run_dir),
        "checkpoint": cf.checkpoint_checksum,
    }


def _candidates(run_dir: Path, given: str | Path | None, relative: str | None, recorded: str | None) -> list:
    if given is not None:
        return [Path(given)]
    places = [(run_dir / relative).resolve() if relative else None, Path(recorded) if recorded else None]
    return list(dict.fromkeys(p for p in places if p is not None))


def stored_hash(data_dir: Path) -> str | None:
    """The content hash meta.json records (None for a dataset prepared before hashes existed)."""
    try:
        return json.loads((data_dir / "meta.json").read_text(encoding="utf-8")).get("content_hash")
    except (OSError, ValueError, AttributeError):
        return None


def find_data(
    run_dir: Path, run_config: dict, given: str | Path | None = None, accept_changed: bool = False
) -> tuple[Path, PreparedData]:
    """The run's dataset folder and its data, checked against the recorded hash. A matching dataset found
    somewhere else than recorded is recorded in ``run_config`` (the caller saves it)."""
    recorded = run_config.get("data_hash")
    places = _candidates(run_dir, given, run_config.get("data_from_run"), run_config.get("data"))
    found = [p for p in places if (p / "meta.json").is_file()]
    if not found:
        if given is not None:
            return Path(given), PreparedData.load(given)  # its own clear error
        raise DataError(
            f"the dataset of run {run_dir} is not at {' or '.join(map(str, places))}; if it moved, pass "
            "--data with its new place"
        )
    chosen = next((p for p in found if recorded and stored_hash(p) == recorded), found[0])
    data = PreparedData.load(chosen)
    now = data.known_hash()
    if recorded and now != recorded:
        if not accept_changed:
            raise DataError(
                f"dataset {chosen} is not the one run {run_dir} was trained on: its content hash is "
                f"{short(now)}, the run recorded {short(recorded)}; train a new run on it, or pass "
                "--accept-changed to use it anyway"
            )
        log.warning(
            f"warning: using dataset {chosen} (hash {short(now)}) though the run recorded {short(recorded)}"
        )
    elif recorded and Path(run_config["data"]) != chosen.resolve():
        _moved("the dataset", chosen, run_config["data"])
        run_config.update(data=str(chosen.resolve()), data_from_run=_relative(chosen, run_dir))
    return chosen, data


def checkpoint_checksum(cf_dir: Path) -> str:
    """The checksum of a run's best.pt (the checkpoint a dependent model reads)."""
    return load_checkpoint(cf_dir / "best.pt")["checksum"]


def find_cf(
    run_dir: Path, run_config: dict, given: str | Path | None = None, accept_changed: bool = False
) -> Path | None:
    """The ID run folder a model reads, checked against the recorded checkpoint hash; None when it reads
    none. A matching run found somewhere else than recorded is recorded in ``run_config``. Runs recorded
    before hashes existed use ``given`` or their ``cf_run`` setting, unchecked."""
    if "cf_run" not in run_config:
        configured = given or run_config["model_config"].get("cf_run")
        return Path(configured) if configured else None
    record = run_config["cf_run"]
    if record is None:
        if given is not None:
            raise ConfigError(f"--cf {given}: run {run_dir} reads no frozen ID model")
        return None
    places = [p.resolve() for p in _candidates(run_dir, given, record.get("from_run"), record.get("path"))]
    found = [p for p in places if (p / "best.pt").is_file()]
    if not found:
        raise ConfigError(
            f"the cf run of run {run_dir} (the frozen ID model it reads) is not at "
            f"{' or '.join(map(str, places))}; if it moved, pass --cf with its new place"
        )
    sums = {}
    for place in found:
        sums[place] = checkpoint_checksum(place)
        if sums[place] == record["checkpoint"]:
            if Path(record["path"]) != place.resolve():
                _moved("the cf run", place, record["path"])
                run_config["cf_run"] = {
                    **record,
                    "path": str(place.resolve()),
                    "from_run": _relative(place, run_dir),
                }
            return place
    chosen = found[0]
    if not accept_changed:
        raise CheckpointError(
            f"cf run {chosen} is not the one run {run_dir} was trained with: its best.pt has checkpoint hash "
            f"{short(sums[chosen])}, the run recorded {short(record['checkpoint'])}; train a new run with "
            "it, or pass --accept-changed to use it anyway"
        )
    log.warning(
        f"warning: using cf run {chosen} (checkpoint {short(sums[chosen])}) although the run recorded "
        f"{short(record['checkpoint'])}"
    )
    return chosen
