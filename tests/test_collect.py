"""Collect stage, its executors and its exploration policy, on real CarRacing-v3 episodes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnagents.agents.exploration import (
    BrownianPolicy,
    NoisyPolicy,
    TrackFollowerPolicy,
    UniformRandomPolicy,
    score_policy,
)
from rnnagents.common.executor import (
    ProcessExecutor,
    SerialExecutor,
    TaskError,
    make_executor,
)
from rnnagents.envs.carracing import (
    ACTION_HIGH,
    ACTION_LOW,
    EVAL_TRACK_SEEDS_START,
    TRAIN_TRACK_SEEDS_START,
    drive,
    eval_track_seeds,
    make_carracing,
    tiles_visited,
    train_track_seeds,
)
from rnnagents.worldmodel.collect import SUMMARY_FILE, collect, follower_episodes
from rnnagents.worldmodel.shards import list_shards, read_shard

pytestmark = pytest.mark.filterwarnings("ignore:builtin type Swig:DeprecationWarning")

SEEDS = [11, 12]
STEPS = 40


@pytest.fixture(scope="module")
def pool():
    with ProcessExecutor(2) as executor:
        yield executor


def test_executors_agree_and_keep_order(pool):
    items = [9.0, 1.0, 16.0, 4.0, 25.0]
    assert pool.map(math.sqrt, items) == SerialExecutor().map(math.sqrt, items) == [3, 1, 4, 2, 5]
    done = []  # reported as each item finishes (what progress bars show), not all at the end
    assert pool.map(time.sleep, [0.5, 0.0], on_done=lambda i, r: done.append(i)) == [None, None]
    assert done == [1, 0]
    assert isinstance(make_executor(1), SerialExecutor)
    assert isinstance(make_executor(2), ProcessExecutor)


ORPHAN_SCRIPT = """
import multiprocessing, time
from rnnagents.common.executor import ProcessExecutor
if __name__ == "__main__":
    executor = ProcessExecutor(1)
    executor.map(time.sleep, [0])
    print(*[child.pid for child in multiprocessing.active_children()], flush=True)
    executor.map(time.sleep, [120])
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead orphan may wait to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_pool_workers_exit_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert workers and all(_running(pid) for pid in workers)
    parent.kill()  # SIGKILL: no chance to stop its pool, mid-task
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers)


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_task_errors_name_the_item(pool, executor):
    runner = pool if executor == "process" else SerialExecutor()
    with pytest.raises(TaskError, match=r"task 1 failed on item -7\.0: ValueError") as info:
        runner.map(math.sqrt, [4.0, -7.0, 9.0])
    assert isinstance(info.value.__cause__, ValueError)
    assert runner.map(math.sqrt, [4.0]) == [2.0]  # still usable afterwards


def test_collect_writes_shards_and_summary_then_resumes(tmp_path):
    out = tmp_path / "shards"
    summary = collect(out, 2, STEPS, SEEDS, SerialExecutor(), progress=False)
    paths = list_shards(out)
    assert [p.name for p in paths] == ["episode_0000011.npz", "episode_0000012.npz"]
    episode = read_shard(paths[0])
    assert episode["frames"].shape == (STEPS, 64, 64, 3) and episode["episode_seed"] == 11
    assert summary["track_seeds"] == SEEDS and summary["collected_now"] == 2
    assert json.loads((out / SUMMARY_FILE).read_text())["episodes"] == summary["episodes"]
    returns = [e["return"] for e in summary["episodes"]]
    assert returns == pytest.approx([read_shard(p)["rewards"].sum() for p in paths], abs=1e-3)

    # Interrupted collect resumes: complete shards are kept, a corrupt one is collected again.
    mtime = paths[0].stat().st_mtime_ns
    paths[1].write_bytes(b"not a zip")
    again = collect(out, 2, STEPS, SEEDS, SerialExecutor(), progress=False)
    assert again["collected_now"] == 1 and paths[0].stat().st_mtime_ns == mtime
    assert again["episodes"] == summary["episodes"]
    assert collect(out, 2, STEPS, SEEDS, SerialExecutor(), progress=False)["collected_now"] == 0


def test_parallel_collect_equals_serial(tmp_path, pool):
    collect(tmp_path / "serial", 2, STEPS, SEEDS, SerialExecutor(), progress=False)
    collect(tmp_path / "pool", 2, STEPS, SEEDS, pool, progress=False)
    for a, b in zip(list_shards(tmp_path / "serial"), list_shards(tmp_path / "pool"), strict=True):
        one, two = read_shard(a), read_shard(b)
        for key in ("frames", "actions", "rewards", "terminations"):
            np.testing.assert_array_equal(one[key], two[key])


def test_training_and_evaluation_tracks_are_disjoint(tmp_path):
    assert TRAIN_TRACK_SEEDS_START == 0 and EVAL_TRACK_SEEDS_START == 1_000_000
    assert set(train_track_seeds(1000)).isdisjoint(eval_track_seeds(1000))
    assert max(train_track_seeds(10)) < EVAL_TRACK_SEEDS_START <= min(eval_track_seeds(10))
    with pytest.raises(ValueError, match="outside the training range"):
        collect(tmp_path, 1, STEPS, eval_track_seeds(1), SerialExecutor(), progress=False)
    assert list_shards(tmp_path) == []


def test_brownian_policy_covers_more_track_than_uniform_random():
    tracks, steps = [0, 1], 300
    brownian = score_policy(BrownianPolicy, tracks, steps)
    uniform = score_policy(UniformRandomPolicy, tracks, steps)
    brownian_tiles = np.mean([s.tiles for s in brownian])
    uniform_tiles = np.mean([s.tiles for s in uniform])
    # Measured: about 0.06 vs 0.025 of the track (see BrownianPolicy's docstring).
    assert brownian_tiles > 1.5 * uniform_tiles


def test_brownian_actions_are_smooth_and_in_range():
    policy = BrownianPolicy(np.random.default_rng(0))
    actions = np.stack([policy(None) for _ in range(2000)])
    assert actions[:, 0].min() >= -1 and actions.max() <= 1 and actions[:, 1:].min() >= 0
    assert np.abs(np.diff(actions[:, 0])).mean() < 0.15  # uniform random: about 0.67
    assert 0.02 < np.mean(actions[:, 2] > 0) < 0.2  # brake is rare
    assert actions[:, 1].mean() > 0.25  # gas biased positive
    replay = BrownianPolicy(np.random.default_rng(0))
    np.testing.assert_array_equal(actions[:5], np.stack([replay(None) for _ in range(5)]))


def test_noisy_policy_perturbs_smoothly_and_respects_bounds():
    def full_gas_hard_left(frame):
        return np.array([-1.0, 1.0, 0.0], dtype=np.float32)

    policy = NoisyPolicy(full_gas_hard_left, np.random.default_rng(0), std=0.3)
    actions = np.stack([policy(None) for _ in range(2000)])
    assert actions.dtype == np.float32
    assert (actions >= ACTION_LOW).all() and (actions <= ACTION_HIGH).all()
    assert 0.3 < np.mean(actions[:, 0] > -1) < 0.7  # noise lifts steering off its bound
    assert np.abs(np.diff(actions[:, 1])).mean() < 0.1  # correlated, not white, noise
    quiet = NoisyPolicy(full_gas_hard_left, np.random.default_rng(0), std=0.0)
    np.testing.assert_array_equal(quiet(None), full_gas_hard_left(None))


def test_track_follower_drives_along_the_track_where_brownian_does_not():
    env = make_carracing()
    policy = TrackFollowerPolicy(np.random.default_rng(0), env, noise=0.0)
    follow_return = sum(step.reward for step in drive(env, policy, 3, 250))
    follow_tiles = tiles_visited(env)
    env.close()
    brownian = score_policy(BrownianPolicy, [3], 250)[0]
    assert follow_tiles > 0.15 > 3 * brownian.tiles
    assert follow_return > 100 > brownian.episode_return


def test_collect_mixes_follower_and_brownian_episodes_as_asked(tmp_path):
    assert follower_episodes(4, 0.5) == [False, True, False, True]
    assert follower_episodes(3, 0.0) == [False] * 3 and follower_episodes(2, 1.0) == [True] * 2
    with pytest.raises(ValueError, match="fraction"):
        follower_episodes(2, 1.5)
    summary = collect(tmp_path, 2, 120, [5, 6], SerialExecutor(), False, follow_fraction=0.5)
    brownian, follower = summary["episodes"]
    assert follower["return"] > brownian["return"] + 5  # the follower reaches tiles early on


def test_a_score_journal_keeps_finished_episodes_of_the_same_evaluation_only(tmp_path):
    from rnnagents.train.real_game import ScoreJournal

    path = tmp_path / "progress.jsonl"
    journal = ScoreJournal(path, key="controller-a")
    journal.record("agent", 1_000_000, 12.5)
    journal.record("random", 1_000_000, -3.0)
    with path.open("a") as file:
        file.write('{"policy": "agent", "tr')  # a line cut by a crash
    again = ScoreJournal(path, key="controller-a")
    assert again.results == {("agent", 1_000_000): 12.5, ("random", 1_000_000): -3.0}
    again.record("agent", 1_000_001, 7.0)  # appended after the dropped fragment, not onto it
    assert ScoreJournal(path, key="controller-a").results[("agent", 1_000_001)] == 7.0
    assert ScoreJournal(path, key="controller-b").results == {}  # another controller: discarded
