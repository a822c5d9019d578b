"""RunLogger: local JSONL metrics always, W&B only on request (checked offline)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import read_wandb_record

from rnnagents.common.run_logger import RunLogger, read_metrics
from rnnagents.common.video import write_video


def _strict_json(line: str) -> dict:
    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(line, parse_constant=refuse)


def test_metrics_go_to_jsonl_as_plain_numbers_with_nulls_for_non_finite(tmp_path):
    with RunLogger(tmp_path, {"lr": 0.1}) as logger:
        assert logger.wandb_id is None
        logger.log({"loss": np.float32(0.5), "episodes": np.int64(3), "acc": torch.tensor(0.25)}, 1)
        logger.log({"loss": float("nan"), "grad_norm": float("inf")}, step=2)
        # Media and artifacts are W&B-only: locally they must be harmless no-ops.
        logger.log_image("canvas", np.zeros((4, 4, 3), np.uint8), step=2)
        logger.log_video("episode", tmp_path / "episode.mp4", step=2)
        logger.log_artifact(tmp_path / "checkpoint.pt", name="ram-checkpoint")

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [_strict_json(line) for line in lines]
    assert records == read_metrics(tmp_path)
    assert {k: v for k, v in records[0].items() if k != "time"} == {
        "step": 1,
        "loss": 0.5,
        "episodes": 3,
        "acc": 0.25,
    }
    assert records[1]["loss"] is None and records[1]["grad_norm"] is None
    assert records[0]["time"] <= records[1]["time"]
    assert not (tmp_path / "wandb").exists() and not (tmp_path / "wandb_id.txt").exists()


def test_lines_are_on_disk_before_close(tmp_path):
    logger = RunLogger(tmp_path, {})
    logger.log({"loss": 1.0}, step=0)
    assert read_metrics(tmp_path)[0]["loss"] == 1.0
    logger.close()
    logger.close()  # idempotent


@pytest.mark.parametrize("key", ["step", "time"])
def test_reserved_metric_names_are_refused(tmp_path, key):
    with RunLogger(tmp_path, {}) as logger, pytest.raises(ValueError, match=key):
        logger.log({key: 1.0}, step=0)


def test_partial_line_from_a_crash_is_skipped_and_dropped_on_resume(tmp_path):
    with RunLogger(tmp_path, {}) as logger:
        logger.log({"loss": 1.0}, step=1)
        logger.log({"loss": 0.9}, step=2)
    with (tmp_path / "metrics.jsonl").open("a") as file:
        file.write('{"step": 3, "lo')  # the process died mid-write

    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    with RunLogger(tmp_path, {}) as logger:
        logger.log({"loss": 0.8}, step=3)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [_strict_json(line)["step"] for line in lines] == [1, 2, 3]


def test_wandb_is_not_imported_without_wandb(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from rnnagents.common.run_logger import RunLogger
        with RunLogger({str(tmp_path)!r}, {{"lr": 0.1}}) as logger:
            logger.log({{"loss": 1.0}}, step=0)
            logger.log_image("img", "missing.png", step=0)
        assert "wandb" not in sys.modules, "wandb was imported"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_wandb_offline_run_records_metrics_config_media_and_resumes_same_run(
    tmp_path, offline_wandb
):
    import wandb

    run_dir = tmp_path / "run"
    video = write_video(np.full((3, 8, 8, 3), 80, np.uint8), run_dir / "episode.gif")
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(b"weights")
    config = {"hidden_size": 256, "lr": 0.001}

    with RunLogger(run_dir, config, wandb=True, run_name="test") as logger:
        run_id = logger.wandb_id
        logger.log({"loss": 1.0, "accuracy": 0.1}, step=0)
        logger.log({"loss": 0.5}, step=1)
        logger.log_image("canvas", np.zeros((8, 8, 3), np.uint8), step=1)
        logger.log_video("episode", video, step=1)
        logger.log_artifact(checkpoint, name="ram-checkpoint")
        logger.log({"loss": 0.25}, step=2)
        # W&B commits a step once a later one arrives: the summary now holds step 1's values.
        assert wandb.run.summary["loss"] == 0.5 and wandb.run.summary["accuracy"] == 0.1
        assert dict(wandb.run.config) == config

    assert (run_dir / "wandb_id.txt").read_text().strip() == run_id
    [offline_dir] = (run_dir / "wandb").glob(f"offline-run-*-{run_id}")
    names = [b"loss", b"accuracy", b"hidden_size", b"ram-checkpoint"]
    records = read_wandb_record(offline_dir / f"run-{run_id}.wandb", names)
    for name in names:
        assert name in records  # what `wandb sync` would upload
    assert list((offline_dir / "files" / "media" / "images").glob("canvas_1_*.png"))
    assert list((offline_dir / "files" / "media" / "videos").glob("episode_1_*.gif"))
    assert [r["step"] for r in read_metrics(run_dir)] == [0, 1, 2]

    with RunLogger(run_dir, config, wandb=True) as resumed:
        assert resumed.wandb_id == run_id
        resumed.log({"loss": 0.125}, step=3)
    assert [r["step"] for r in read_metrics(run_dir)] == [0, 1, 2, 3]

    moved_dir = tmp_path / "moved"  # e.g. a run directory copied to another machine
    with RunLogger(moved_dir, config, wandb=True, resume_id=run_id) as explicit:
        assert explicit.wandb_id == run_id
    assert (moved_dir / "wandb_id.txt").read_text().strip() == run_id


def test_a_junk_line_inside_the_metrics_names_the_file_and_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="metrics.jsonl line 2 is not a metrics record"):
        read_metrics(tmp_path)
