"""Episode shards: validated, atomic, and streamed a few at a time."""

from __future__ import annotations

import numpy as np
import pytest

from rnnagents.worldmodel import shards
from rnnagents.worldmodel.shards import (
    LATENTS,
    ShardError,
    episode_windows,
    iter_frames,
    iter_sequences,
    list_shards,
    read_shard,
    write_shard,
)


def make_episode(length: int, value: int = 0, seed: int = 0) -> dict:
    """Frames filled with ``value`` (to tell shards apart in batches)."""
    rng = np.random.default_rng(seed)
    return {
        "frames": np.full((length, 64, 64, 3), value, dtype=np.uint8),
        "actions": rng.uniform(-1, 1, (length, 3)).astype(np.float32),
        "rewards": rng.normal(size=length).astype(np.float32),
        "terminations": np.arange(length) == length - 1,
        "episode_seed": seed,
    }


def make_latents(length: int, offset: int, z_dim: int = 4) -> dict:
    """mu[t] = offset + t in every dimension, so windows can be checked for alignment."""
    steps = np.arange(offset, offset + length, dtype=np.float32)
    return {
        "mu": np.repeat(steps[:, None], z_dim, axis=1),
        "logvar": np.zeros((length, z_dim), dtype=np.float32),
        "actions": np.zeros((length, 3), dtype=np.float32),
        "rewards": steps.copy(),
        "terminations": np.zeros(length, dtype=bool),
        "episode_seed": offset,
        "vae_digest": "abc",
    }


def test_round_trip(tmp_path):
    episode = make_episode(7, value=9, seed=4)
    path = write_shard(tmp_path, "episode_a", episode)
    assert path == tmp_path / "episode_a.npz" and list_shards(tmp_path) == [path]
    loaded = read_shard(path)
    for key in ("frames", "actions", "rewards", "terminations"):
        np.testing.assert_array_equal(loaded[key], episode[key])
        assert loaded[key].dtype == episode[key].dtype
    assert loaded["episode_seed"] == 4


def test_crash_mid_write_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    good = write_shard(tmp_path, "kept", make_episode(3, value=1))

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(shards.np, "savez_compressed", crash)
    with pytest.raises(OSError, match="disk full"):
        write_shard(tmp_path, "new", make_episode(3))
    with pytest.raises(OSError, match="disk full"):
        write_shard(tmp_path, "kept", make_episode(3, value=2))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.npz"]  # no temp file either
    assert read_shard(good)["frames"][0, 0, 0, 0] == 1  # the old shard survived its overwrite


def test_truncated_shard_is_a_shard_error_naming_the_file(tmp_path):
    path = write_shard(tmp_path, "episode_cut", make_episode(5))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ShardError, match="episode_cut.npz"):
        read_shard(path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.pop("rewards"), "missing key.*rewards"),
        (lambda e: e.update(rewards=e["rewards"][:-1]), "differ in length"),
        (lambda e: e.update(actions=e["actions"].astype(np.float64)), "actions has dtype"),
        (lambda e: e.update(frames=e["frames"][:, :32]), "frames has shape"),
        (lambda e: e.update(episode_seed=np.arange(2)), "episode_seed"),
    ],
)
def test_mismatched_shard_names_file_and_problem(tmp_path, change, problem):
    episode = make_episode(5)
    change(episode)
    path = tmp_path / "episode_bad.npz"
    np.savez_compressed(path, **episode)  # bypass write_shard, which refuses it too
    with pytest.raises(ShardError, match=f"episode_bad.npz.*{problem}"):
        read_shard(path)
    with pytest.raises(ShardError, match=problem):
        write_shard(tmp_path, "other", episode)


def test_latent_dimensions_must_agree(tmp_path):
    episode = make_latents(4, 0)
    episode["logvar"] = np.zeros((4, 5), dtype=np.float32)
    with pytest.raises(ShardError, match="logvar has shape"):
        write_shard(tmp_path, "latent", episode, LATENTS)


def test_list_shards_skips_unfinished_temporary_files(tmp_path):
    write_shard(tmp_path, "b", make_episode(2))
    write_shard(tmp_path, "a", make_episode(2))
    (tmp_path / ".c.npz.x1.tmp").write_bytes(b"partial")
    (tmp_path / ".d.npz").write_bytes(b"partial")
    assert [p.name for p in list_shards(tmp_path)] == ["a.npz", "b.npz"]
    assert list_shards(tmp_path / "missing") == []


def test_iter_frames_streams_every_frame_once(tmp_path):
    paths = [write_shard(tmp_path, f"e{i}", make_episode(8, value=i)) for i in range(5)]
    batches = list(iter_frames(paths, 4, np.random.default_rng(0), shards_per_buffer=1))
    assert [len(b) for b in batches] == [4] * 10
    # One shard in memory at a time: every batch comes from a single episode.
    assert all(len(np.unique(b)) == 1 for b in batches)
    values = np.concatenate([b[:, 0, 0, 0] for b in batches])
    assert sorted(values.tolist()) == sorted(list(range(5)) * 8)


def test_iter_frames_carries_remainders_and_shuffles(tmp_path):
    paths = [write_shard(tmp_path, f"e{i}", make_episode(5, value=i)) for i in range(4)]
    batches = list(iter_frames(paths, 3, np.random.default_rng(1), shards_per_buffer=2))
    assert [len(b) for b in batches] == [3] * 6 + [2]
    assert sum(len(np.unique(b)) > 1 for b in batches) > 0  # mixed within the buffer


def test_episode_windows_cover_each_step_once_with_aligned_targets():
    latents = make_latents(23, offset=100)
    windows = episode_windows(latents, seq_len=5, rng=np.random.default_rng(3))
    mask, next_mask = windows["mask"], windows["next_mask"]
    assert windows["mu"].shape[1:] == (6, 4) and mask.shape[1:] == (5,)
    assert sorted(windows["rewards"][mask].tolist()) == list(range(100, 123))
    # The target of step t is the latent of step t + 1; only the last step has none.
    assert next_mask.sum() == 22
    inputs, targets = windows["mu"][:, :-1, 0], windows["mu"][:, 1:, 0]
    np.testing.assert_array_equal(targets[next_mask], inputs[next_mask] + 1)
    np.testing.assert_array_equal(inputs[mask], windows["rewards"][mask])


def test_iter_sequences_yields_every_step_of_every_episode(tmp_path):
    paths = [
        write_shard(tmp_path, f"l{i}", make_latents(10 + i, 1000 * i), LATENTS) for i in range(3)
    ]
    batches = list(
        iter_sequences(
            paths, seq_len=4, batch_size=2, rng=np.random.default_rng(0), shards_per_buffer=2
        )
    )
    rewards = np.concatenate([b["rewards"][b["mask"]] for b in batches])
    expected = [1000 * i + t for i in range(3) for t in range(10 + i)]
    assert sorted(rewards.tolist()) == expected
    assert all(len(b["mu"]) <= 2 for b in batches)
