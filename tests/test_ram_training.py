"""RAM training end to end: learning, exact resume, checkpoint refusal, W&B, eval, watch."""

import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CLI, TINY_ENV, read_wandb_record

from rnnagents.common.checkpoint import CheckpointError, load_checkpoint
from rnnagents.common.run_logger import read_metrics
from rnnagents.common.video import count_frames
from rnnagents.train.ram.config import PRESETS
from rnnagents.train.ram.rollout import play_batch
from rnnagents.train.ram.trainer import RAMTrainer, resume_config, run_ram

SMOKE = dataclasses.replace(PRESETS["smoke"], env_id=TINY_ENV, device="cpu")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ram") / "run"
    report = run_ram(dataclasses.replace(SMOKE, epochs=5), run_dir, progress=False)
    return run_dir, report


def test_smoke_run_learns_clearly_above_chance(trained_run):
    run_dir, report = trained_run
    metrics = [m for m in read_metrics(run_dir) if "epoch" in m]
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4, 5]
    assert read_metrics(run_dir)[-1]["test/error"] == report["error"]
    # Chance is 90% error. 256 validation episodes: one binomial s.d. at chance is ~1.9%.
    assert min(m["valid/error"] for m in metrics) < 0.75
    assert report["error"] < 0.75 and report["split"] == "test"
    assert report["episodes"] == 1000  # the whole test split of the offline sample
    lo, hi = report["error_ci95"]
    assert lo < report["error"] < hi
    for name in ("config.json", "checkpoint.pt", "best.pt", "eval.json", "metrics.jsonl"):
        assert (run_dir / name).exists()


def final_weights(run_dir):
    return load_checkpoint(Path(run_dir) / "checkpoint.pt", expected_kind="ram")["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_after_epoch_matches_uninterrupted_run(tmp_path):
    config = dataclasses.replace(SMOKE, batches_per_epoch=8, epochs=3, valid_episodes=64)
    run_ram(config, tmp_path / "straight", progress=False)
    run_ram(dataclasses.replace(config, epochs=2), tmp_path / "cut", progress=False)
    resumed = resume_config(tmp_path / "cut", epochs=3)
    run_ram(resumed, tmp_path / "cut", resume=True, progress=False)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "cut"))
    epochs = [m["epoch"] for m in read_metrics(tmp_path / "cut") if "epoch" in m]
    assert epochs == [1, 2, 3]


def smoke_flags(epochs: int, batches: int, valid: int) -> list[str]:
    """`train ram` flags for a short smoke run on MNIST28 (a registered id: subprocesses see it)."""
    return [
        "--preset",
        "smoke",
        "--env",
        "rnnagents/MNIST28-v0",
        "--epochs",
        str(epochs),
        "--batches-per-epoch",
        str(batches),
        "--valid-episodes",
        str(valid),
        "--device",
        "cpu",
        "--no-progress",
    ]


@pytest.mark.slow
def test_ctrl_c_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path, run_cli):
    """A real SIGINT wherever it lands: checkpoint at the batch boundary, exact continuation."""
    flags = smoke_flags(epochs=3, batches=60, valid=64)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run_cli("train", "ram", *flags, "--run-dir", tmp_path / "straight", env=env)
    proc = subprocess.Popen(
        [*CLI, "train", "ram", *flags, "--run-dir", str(tmp_path / "cut")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while not (tmp_path / "cut" / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # now somewhere inside epoch 2
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"Resume with" in err
    saved = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert saved["epoch"] < 3
    run_cli("train", "ram", "--resume", tmp_path / "cut", "--no-progress", env=env)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "cut"))


def test_checkpoint_from_another_model_is_refused(trained_run, tmp_path):
    run_dir, _ = trained_run
    other = dataclasses.replace(SMOKE, hidden_size=SMOKE.hidden_size * 2)
    trainer = RAMTrainer(other, run_dir, progress=False)
    with pytest.raises(CheckpointError, match="hidden_size"):
        trainer.restore()
    with pytest.raises(ValueError, match="cannot change \\['hidden_size'\\]"):
        resume_config(run_dir, hidden_size=999)
    with pytest.raises(FileExistsError, match="already holds a run"):
        run_ram(SMOKE, run_dir, progress=False)


def test_a_checkpoint_older_than_an_option_loads_with_its_default(trained_run, tmp_path):
    """A run saved before ``first_location`` existed ran from the centre: it still loads and
    resumes, while one that ran from random first locations is another run."""
    import shutil

    from rnnagents.common.checkpoint import save_checkpoint

    run_dir = tmp_path / "old"
    shutil.copytree(trained_run[0], run_dir)
    path = run_dir / "checkpoint.pt"
    ckpt = load_checkpoint(path, expected_kind="ram")
    old = {k: v for k, v in ckpt["config"].items() if k != "first_location"}
    save_checkpoint(path, {**ckpt, "config": old})
    RAMTrainer(SMOKE, run_dir, progress=False).restore()
    save_checkpoint(path, {**ckpt, "config": {**old, "first_location": "random"}})
    with pytest.raises(CheckpointError, match="first_location"):
        RAMTrainer(SMOKE, run_dir, progress=False).restore()


def test_first_location_option_reaches_the_env():
    from rnnagents.train.ram.rollout import make_glimpse_vec_env

    for where, varies in (("center", False), ("random", True)):
        config = dataclasses.replace(SMOKE, first_location=where)
        envs = make_glimpse_vec_env(config.env_id, 8, "train", **config.env_kwargs())
        obs, _ = envs.reset(seed=0)
        envs.close()
        assert (obs["location"].std(0) > 0.1).all() == varies
        assert varies or (obs["location"] == 0).all()


def test_location_samples_play_each_canvas_that_many_times_with_its_own_locations(tmp_path):
    config = dataclasses.replace(SMOKE, batch_size=8, location_samples=4)
    trainer = RAMTrainer(config, tmp_path / "run", progress=False)
    seeds = trainer.episode_seeds(5)
    assert seeds == [5] * 4 + [6] * 4
    assert RAMTrainer(SMOKE, tmp_path / "one", progress=False).episode_seeds(5) == list(
        range(5, 5 + SMOKE.batch_size)
    )  # one sample: the seeds an int seed gives, as before the option
    trainer.generator.manual_seed(0)
    result = play_batch(trainer.model, trainer.envs, trainer.device, trainer.generator, seeds)
    canvases, labels = trainer.envs.task.canvases, result.labels.tolist()
    for group in (slice(0, 4), slice(4, 8)):
        assert (canvases[group] == canvases[group][:1]).all()
        assert len(set(labels[group])) == 1
        paths = result.locations[group, 1:]  # the first glimpse is at the centre for all
        assert len({path.tobytes() for path in paths}) == 4  # each its own location samples
    assert not np.array_equal(canvases[0], canvases[4])
    assert trainer.train_batch(3)["images"] == 8
    with pytest.raises(ValueError, match="multiple of location_samples"):
        dataclasses.replace(SMOKE, batch_size=6, location_samples=4)


@pytest.mark.slow
def test_eval_and_watch_commands(trained_run, tmp_path, run_cli):
    run_dir, _ = trained_run
    out = run_cli("eval", "ram", run_dir, "--episodes", "200", "--samples", "3", check=False)
    # The tiny env is registered only inside the test process, so the CLI must say so clearly.
    assert out.returncode == 2 and "TinyClutteredMNIST" in out.stderr
    from rnnagents.train.ram.evaluate import evaluate_ram
    from rnnagents.train.ram.watch import episode_films, load_ram

    model, config = load_ram(run_dir, torch.device("cpu"))
    report = evaluate_ram(model, config, "test", 200, torch.device("cpu"), samples=3)
    assert report["episodes"] == 200 and 0 <= report["error_mc"] <= 1
    films = episode_films(model, config, 2, torch.device("cpu"))
    assert [len(f) for f in films] == [5, 5]  # 4 glimpses + the answer


@pytest.mark.slow
def test_cli_train_eval_watch_end_to_end(tmp_path, run_cli):
    run_dir = tmp_path / "run"
    train = run_cli(
        "train", "ram", *smoke_flags(epochs=1, batches=5, valid=32), "--run-dir", run_dir
    )
    assert "test error" in train.stdout
    ev = run_cli("eval", "ram", run_dir, "--episodes", "100", "--json", tmp_path / "e.json")
    assert "test error" in ev.stdout and "M=1" in ev.stdout and (tmp_path / "e.json").exists()
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 100
    video = tmp_path / "w.mp4"
    run_cli("watch", run_dir, "--episodes", "2", "--out", video)
    assert count_frames(video) == 2 * (6 + 1)  # MNIST28: 6 glimpses + the answer, per episode


@pytest.mark.usefixtures("offline_wandb")
def test_wandb_offline_run_records_metrics_media_and_model(tmp_path):
    run_dir = tmp_path / "run"
    config = dataclasses.replace(SMOKE, epochs=1, batches_per_epoch=3, valid_episodes=32)
    run_ram(config, run_dir, wandb=True, progress=False)
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    keys = [
        b"train/accuracy",
        b"valid/error",
        b"test/error",
        b"media/glimpses",
        b"media/glimpse_paths",
        b"ram-run",
    ]
    record = read_wandb_record(next(offline[0].glob("run-*.wandb")), keys)
    for key in keys:
        assert key in record, key
    assert list((offline[0] / "files" / "media").rglob("*.mp4"))
    assert (run_dir / "wandb_id.txt").exists()
