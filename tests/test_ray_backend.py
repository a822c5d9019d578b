"""The Ray backend on a local Ray instance: the same episodes and scores as serial, a killed
worker retried without losing or repeating an item, a clear answer without Ray installed."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from rnnagents.agents.controller import n_params
from rnnagents.agents.exploration import UniformRandomPolicy
from rnnagents.common.executor import RayExecutor, SerialExecutor, TaskError, make_executor
from rnnagents.envs.carracing import eval_track_seeds
from rnnagents.train.real_game import score_real
from rnnagents.worldmodel.collect import collect
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.mdnrnn import build_mdnrnn
from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights
from rnnagents.worldmodel.shards import list_shards, read_shard
from rnnagents.worldmodel.vae import ConvVAE

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a local Ray instance takes seconds to start


@pytest.fixture(scope="module")
def ray_executor():
    """A local Ray instance of 2 CPUs for the module; its workers can import this file's task
    functions (the tests folder is on their path, as an installed package would be)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join([os.path.dirname(__file__), *sys.path]))
        with RayExecutor(workers=2) as executor:
            yield executor


def crash_once_then_square(item: tuple[str, int]) -> int:
    """Kill this worker process the first time an item is seen; square it on the retry."""
    marker_dir, value = item
    marker = os.path.join(marker_dir, f"seen-{value}")
    if value == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # as a killed worker would: no exception, the process is just gone
    return value * value


def fail_on_three(value: int) -> int:
    if value == 3:
        raise RuntimeError("three is not allowed")
    return value


@pytest.fixture(scope="module")
def random_weights() -> WorldModelWeights:
    """A random-weight world model, as bytes: no run directory exists for any worker to read."""
    torch.manual_seed(0)
    config = WorldModelConfig()
    return WorldModelWeights.of(ConvVAE(config.z_dim), build_mdnrnn(config), config)


def random_params() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, n_params())


@pytest.mark.parametrize("explorer", ["brownian", "controller"])
def test_collection_on_ray_writes_the_episodes_serial_writes(
    explorer, tmp_path, ray_executor, random_weights
):
    controller = None
    if explorer == "controller":  # iterative training's explorer
        controller = ControllerFactory.of(random_weights, random_params(), noise=0.1)
    summaries = {}
    for name, executor in (("serial", SerialExecutor()), ("ray", ray_executor)):
        summaries[name] = collect(
            tmp_path / name, 2, 30, None, executor, progress=False, controller=controller
        )
    assert summaries["ray"]["episodes"] == summaries["serial"]["episodes"]
    serial, on_ray = (list_shards(tmp_path / name) for name in ("serial", "ray"))
    assert [p.name for p in serial] == [p.name for p in on_ray] and len(serial) == 2
    for a, b in zip(serial, on_ray, strict=True):
        for key, value in read_shard(a).items():
            np.testing.assert_array_equal(value, read_shard(b)[key])


def test_scores_on_ray_equal_serial_scores(ray_executor):
    seeds = eval_track_seeds(2)
    serial = score_real(SerialExecutor(), UniformRandomPolicy, seeds, 25)
    assert score_real(ray_executor, UniformRandomPolicy, seeds, 25) == serial


def test_a_controller_scores_on_ray_as_in_serial_with_no_run_directory(
    ray_executor, random_weights
):
    """The factory carries V's and M's weights: no worker reads a run directory."""
    factory = ControllerFactory.of(random_weights, random_params())
    seeds = eval_track_seeds(2)
    serial = score_real(SerialExecutor(), factory, seeds, 25)
    assert score_real(ray_executor, factory, seeds, 25) == serial


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_repeated(tmp_path, ray_executor):
    items = [(str(tmp_path), value) for value in range(5)]
    done = []
    results = ray_executor.map(crash_once_then_square, items, on_done=lambda i, r: done.append(i))
    assert results == [0, 1, 4, 9, 16]
    assert sorted(done) == [0, 1, 2, 3, 4]  # each item once
    assert (tmp_path / "seen-2").exists()  # the first attempt did die


def test_a_task_that_raises_fails_the_map_naming_its_item(ray_executor):
    with pytest.raises(TaskError, match="task 3 failed on item 3: RuntimeError: three"):
        ray_executor.map(fail_on_three, [0, 1, 2, 3, 4])


def test_without_ray_the_backend_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ValueError, match=r"pip install 'rnnagents\[ray\]'"):
        make_executor(2, "ray")
    with pytest.raises(ValueError, match="--ray-address applies to --backend ray"):
        make_executor(2, "process", "auto")
