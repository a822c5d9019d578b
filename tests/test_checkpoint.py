"""Checkpoints: atomic saves, data-only loads, clear errors, reproducible RNG state."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch

from rnnagents.common import checkpoint
from rnnagents.common.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)

CONFIG = {"hidden_size": 32, "glimpse_scales": 3, "lr": 1e-3, "total_steps": 1000}


def _payload(step: int = 0) -> dict:
    torch.manual_seed(step)
    model = torch.nn.GRUCell(4, 8)
    return {"kind": "ram", "config": dict(CONFIG), "step": step, "model": model.state_dict()}


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"  # parent directory does not exist yet
    payload = _payload(step=7)
    save_checkpoint(path, payload)

    loaded = load_checkpoint(path, expected_kind="ram", expected_config=CONFIG)

    assert loaded["format_version"] == FORMAT_VERSION
    assert loaded["step"] == 7 and loaded["config"] == CONFIG
    assert loaded["model"].keys() == payload["model"].keys()
    for name, tensor in payload["model"].items():
        assert torch.equal(loaded["model"][name], tensor)
    assert "format_version" not in payload  # the caller's dict is not modified


@pytest.mark.parametrize("missing", ["kind", "config"])
def test_save_requires_kind_and_config(tmp_path, missing):
    payload = _payload()
    del payload[missing]
    with pytest.raises(ValueError, match=missing):
        save_checkpoint(tmp_path / "checkpoint.pt", payload)
    assert list(tmp_path.iterdir()) == []


def test_crash_mid_save_keeps_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload(step=1))
    real_save = torch.save

    def save_half_then_crash(obj, file):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", save_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _payload(step=2))

    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    assert load_checkpoint(path)["step"] == 1


def test_torch_failing_to_write_says_disk_full_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload(step=1))

    def torch_write_error(obj, file):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64")

    monkeypatch.setattr(checkpoint.torch, "save", torch_write_error)
    with pytest.raises(OSError, match="could not write checkpoint .*checkpoint.pt .*disk full"):
        save_checkpoint(path, _payload(step=2))
    assert load_checkpoint(path)["step"] == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"not a checkpoint at all" * 10, id="garbage"),
    ],
)
def test_damaged_file_gives_checkpoint_error(tmp_path, damage):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match="corrupt or not a checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_file_error_names_path(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt"):
        load_checkpoint(path)


class _Pickled:
    """Arbitrary class: unpickling it would mean running code from the file."""


def test_code_carrying_payload_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {**_payload(), "object": _Pickled()})
    with pytest.raises(CheckpointError, match="corrupt or not a checkpoint"):
        load_checkpoint(path)


def test_unknown_format_version_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({**_payload(), "format_version": FORMAT_VERSION + 1}, path)
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(path)


def test_wrong_kind_names_both_kinds(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload())
    with pytest.raises(CheckpointError, match="'ram'.*'worldmodel'"):
        load_checkpoint(path, expected_kind="worldmodel")


def test_config_mismatch_lists_each_differing_key(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload())
    expected = {**CONFIG, "hidden_size": 64, "lr": 3e-4, "new_option": True}

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, expected_config=expected)

    message = str(info.value)
    assert "hidden_size: saved 32, expected 64" in message
    assert "lr: saved 0.001, expected 0.0003" in message
    assert "new_option: saved <missing>, expected True" in message
    assert "glimpse_scales" not in message and "total_steps" not in message


def test_compare_keys_ignores_settings_that_may_change_on_resume(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload())
    expected = {**CONFIG, "total_steps": 5000}

    loaded = load_checkpoint(path, expected_config=expected, compare_keys=["hidden_size", "lr"])
    assert loaded["config"]["total_steps"] == 1000
    with pytest.raises(CheckpointError, match="total_steps"):
        load_checkpoint(path, expected_config=expected)


def _draws() -> list:
    return [
        random.random(),
        random.gauss(0.0, 1.0),
        np.random.rand(3).tolist(),
        float(np.random.normal()),
        torch.rand(3).tolist(),
        torch.randn(2).tolist(),
    ]


def test_rng_state_survives_checkpoint_and_reproduces_draws(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    # Leave cached Gaussians behind in both Python and NumPy so those parts of the state matter.
    random.gauss(0.0, 1.0)
    np.random.normal()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {**_payload(), "rng": capture_rng_state()})
    expected = _draws()

    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    assert _draws() != expected
    restore_rng_state(load_checkpoint(path)["rng"])

    assert _draws() == expected
