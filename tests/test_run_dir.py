"""Run directories: one writer at a time, a run that fails early leaves no run behind, a resume
is the same run."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import TINY_ENV

from rnnagents.common.checkpoint import CheckpointError
from rnnagents.common.run_dir import CONFIG_FILE, RunDirInUse, locked
from rnnagents.common.run_logger import read_metrics
from rnnagents.train.ram.config import PRESETS
from rnnagents.train.ram.evaluate import load_ram
from rnnagents.train.ram.trainer import resume_config, run_ram

TINY = dataclasses.replace(
    PRESETS["smoke"], env_id=TINY_ENV, device="cpu", epochs=1, batches_per_epoch=2,
    valid_episodes=16,
)  # fmt: skip


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    with locked(tmp_path / "run"):
        with pytest.raises(RunDirInUse, match=f"in use by process {os.getpid()}"):
            run_ram(TINY, tmp_path / "run", progress=False)
        with pytest.raises(RunDirInUse):
            run_ram(TINY, tmp_path / "run", resume=True, progress=False)
    assert not (tmp_path / "run" / CONFIG_FILE).exists()  # the refused writer wrote nothing
    run_ram(TINY, tmp_path / "run", progress=False)  # the lock went with its holder


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    script = (
        "import sys, time; from rnnagents.common.run_dir import locked\n"
        "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirInUse, match=f"process {holder.pid}"), locked(tmp_path):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with locked(tmp_path):  # stale lock file, no holder: free
        pass


def test_a_run_that_fails_before_training_leaves_no_run_behind(tmp_path):
    with pytest.raises(ValueError, match="nope: missing train-images-idx3-ubyte"):
        run_ram(dataclasses.replace(TINY, data_dir=str(tmp_path / "nope")), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # not even an empty folder
    run_ram(TINY, tmp_path / "run", progress=False)  # the fixed command is not told "a run"


def test_eval_waits_for_no_one_but_refuses_a_run_being_trained(tmp_path, capsys):
    from rnnagents.cli import main

    run_ram(TINY, tmp_path, progress=False)
    with locked(tmp_path):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", "ram", str(tmp_path), "--episodes", "10"])
    assert exit_info.value.code == 1 and "in use by process" in capsys.readouterr().err
    main(["eval", "ram", str(tmp_path), "--episodes", "10"])  # free again
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "ram", str(tmp_path / "missing")])
    assert exit_info.value.code == 1 and not (tmp_path / "missing").exists()


def test_a_resume_is_the_same_run_or_refused(tmp_path):
    run_ram(dataclasses.replace(TINY, epochs=2), tmp_path, progress=False)
    with pytest.raises(ValueError, match="trained 2 epochs already"):
        run_ram(resume_config(tmp_path, epochs=1), tmp_path, resume=True, progress=False)
    foreign = dataclasses.replace(TINY, epochs=2, lr=0.5)  # not a model key, still another run
    with pytest.raises(CheckpointError, match="lr: saved 0.003, expected 0.5"):
        run_ram(foreign, tmp_path, resume=True, progress=False)
    run_ram(resume_config(tmp_path, epochs=3), tmp_path, resume=True, progress=False)
    assert [m["epoch"] for m in read_metrics(tmp_path) if "epoch" in m] == [1, 2, 3]
    assert resume_config(tmp_path).epochs == 3  # config.json says what the run now holds
    model, config = load_ram(tmp_path, torch.device("cpu"))  # the grown run still evaluates
    assert config.epochs == 3


def test_a_kill_between_checkpoint_and_metrics_line_never_repeats_a_line(tmp_path, monkeypatch):
    """The epoch's checkpoint is written before its metrics line: a kill in between can lose
    that line, never duplicate it on resume."""
    from rnnagents.common import run_logger

    real_log = run_logger.RunLogger.log

    def killed_at_epoch_2(self, metrics, step):
        if metrics.get("epoch") == 2:
            raise KeyboardInterrupt  # as SIGKILL right after the checkpoint of epoch 2
        real_log(self, metrics, step)

    monkeypatch.setattr(run_logger.RunLogger, "log", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_ram(dataclasses.replace(TINY, epochs=3), tmp_path, progress=False)
    monkeypatch.setattr(run_logger.RunLogger, "log", real_log)
    run_ram(resume_config(tmp_path, epochs=3), tmp_path, resume=True, progress=False)
    epochs = [m["epoch"] for m in read_metrics(tmp_path) if "epoch" in m]
    assert epochs == [1, 3]  # epoch 2's line was lost with the kill; nothing is repeated


def test_a_bad_device_leaves_no_world_model_run_behind(tmp_path):
    from rnnagents.train.worldmodel.pipeline import open_pipeline
    from rnnagents.worldmodel.config import PRESETS as WM_PRESETS

    config = dataclasses.replace(WM_PRESETS["smoke"], device="tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        open_pipeline(config, tmp_path / "wm", new=True, progress=False)
    assert not (tmp_path / "wm" / CONFIG_FILE).exists()
