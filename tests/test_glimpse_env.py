"""The cluttered-MNIST glimpse env: checkers, seeding, vector == single, clutter, bad input."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnagents
from rnnagents.envs.glimpse_sb3 import sb3_glimpse_env
from rnnagents.envs.glimpse_task import GlimpseTaskConfig, compose_canvases, draw_episodes
from rnnagents.envs.mnist_data import load_digits
from rnnagents.envs.registration import GLIMPSE_PRESETS

IDS = sorted(GLIMPSE_PRESETS)
# check_env builds each render mode; "human" on a headless machine warns once and shows
# nothing, which is the documented behaviour, not a defect.
HEADLESS_WARNING = "no display"


def act(location=(0.0, 0.0), klass=0):
    return {"location": np.asarray(location, dtype=np.float32), "class": klass}


def test_register_envs_through_gymnasium():
    gym.register_envs(rnnagents)
    assert set(IDS) <= set(gym.registry)


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    unexpected = [str(w.message) for w in caught if HEADLESS_WARNING not in str(w.message)]
    assert unexpected == []


def test_sb3_check_env_flat_and_dict():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = sb3_glimpse_env(gym.make("rnnagents/ClutteredMNIST60-v0"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env)
    assert [str(w.message) for w in caught] == []
    # The Dict version passes too; SB3 only remarks that the glimpse looks like a float image.
    sb3_check_env(sb3_glimpse_env(gym.make("rnnagents/ClutteredMNIST60-v0"), False), warn=False)


def test_episode_protocol_and_reward():
    env = gym.make("rnnagents/ClutteredMNIST60-v0")
    obs, info = env.reset(seed=3)
    assert info == {} and obs["location"].tolist() == [0.0, 0.0]
    label = env.unwrapped.task.labels[0]
    for t in range(1, 8):
        obs, reward, terminated, truncated, info = env.step(act((0.1 * t, -0.1 * t)))
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
        np.testing.assert_allclose(obs["location"], [0.1 * t, -0.1 * t], atol=1e-6)
    obs, reward, terminated, truncated, info = env.step(act(klass=int(label)))
    assert terminated and not truncated and reward == 1.0
    assert info == {"label": label, "prediction": label, "is_success": True}
    with pytest.raises(ResetNeeded):
        env.unwrapped.step(act())


def test_wrong_class_gets_zero():
    env = gym.make("rnnagents/MNIST28-v0")
    env.reset(seed=0)
    wrong = (int(env.unwrapped.task.labels[0]) + 1) % 10
    for _ in range(5):
        env.step(act())
    _, reward, terminated, _, info = env.step(act(klass=wrong))
    assert terminated and reward == 0.0 and info["is_success"] is False


def rollout(env, seed, steps=10):
    obs, _ = env.reset(seed=seed)
    trace = [obs["glimpse"].copy()]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        obs, *_ = env.step(act(rng.uniform(-1, 1, 2)))
        trace.append(obs["glimpse"].copy())
        if env.unwrapped.task.steps[0] > env.unwrapped.config.n_glimpses:
            env.reset()
    return np.stack(trace)


def test_reset_determinism_and_seed_sensitivity():
    env = gym.make("rnnagents/ClutteredMNIST60-v0")
    a, b, c = rollout(env, 7), rollout(env, 7), rollout(env, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_first_location():
    env = gym.make("rnnagents/ClutteredMNIST60-v0", first_location="random")
    firsts = [env.reset(seed=s)[0]["location"] for s in range(5)]
    assert len({tuple(f) for f in firsts}) == 5
    assert all(np.all(np.abs(f) <= 1) for f in firsts)


@pytest.mark.parametrize("env_id", ["rnnagents/ClutteredMNIST60-v0", "rnnagents/MNIST28-v0"])
def test_vector_env_equals_single_envs(env_id):
    n, seed = 5, 11
    native = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync")
    obs_a, _ = native.reset(seed=seed)
    obs_b, _ = sync.reset(seed=seed)
    rng = np.random.default_rng(1)
    n_glimpses = native.unwrapped.config.n_glimpses
    for _ in range(2 * (n_glimpses + 1) + 3):  # over two autoresets
        actions = {
            "location": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
            "class": rng.integers(0, 10, n),
        }
        for key in ("glimpse", "location"):
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
        obs_a, rew_a, term_a, trunc_a, info_a = native.step(actions)
        obs_b, rew_b, term_b, trunc_b, info_b = sync.step(actions)
        np.testing.assert_array_equal(rew_a, rew_b)
        np.testing.assert_array_equal(term_a, term_b)
        np.testing.assert_array_equal(trunc_a, trunc_b)
        if term_a.any():
            np.testing.assert_array_equal(info_a["label"][term_a], info_b["label"][term_b])
            np.testing.assert_array_equal(
                info_a["prediction"][term_a], info_b["prediction"][term_b]
            )


def test_vector_env_partial_reset_and_render():
    env = gym.make_vec(
        "rnnagents/ClutteredMNIST60-v0",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        render_mode="rgb_array",
    )
    obs, _ = env.reset(seed=0)
    before = env.unwrapped.task.canvases.copy()
    env.reset(options={"reset_mask": np.array([False, True, False])})
    after = env.unwrapped.task.canvases
    assert np.array_equal(before[[0, 2]], after[[0, 2]]) and not np.array_equal(before[1], after[1])
    frames = env.render()
    assert len(frames) == 3 and frames[0].dtype == np.uint8 and frames[0].shape[2] == 3


def test_clutter_only_adds_under_the_clip_rule():
    config = GlimpseTaskConfig(canvas_size=60, n_clutter=8, clutter_size=8)
    images, _ = load_digits("train")
    rngs = [np.random.default_rng(seed) for seed in range(32)]
    stacked = draw_episodes(rngs, len(images), config)
    canvas, digit_layer = compose_canvases(images, stacked, config)
    no_clutter = GlimpseTaskConfig(canvas_size=60, n_clutter=0)
    alone, _ = compose_canvases(images, stacked, no_clutter)
    assert np.all(canvas >= digit_layer)
    np.testing.assert_array_equal(alone, digit_layer)
    # Where any clutter landed the canvas is larger, capped at 255; elsewhere it is the digit.
    clutter = canvas.astype(int) - digit_layer.astype(int)
    assert clutter.max() > 0 and canvas.max() <= 255
    for i in range(32):
        r, c = stacked.position[i]
        np.testing.assert_array_equal(
            digit_layer[i, r : r + 28, c : c + 28], images[stacked.digit[i]]
        )


def test_splits_never_share_digits():
    train_env = gym.make("rnnagents/MNIST28-v0", split="train").unwrapped
    test_env = gym.make("rnnagents/MNIST28-v0", split="test").unwrapped
    train_rows = {img.tobytes() for img in train_env.task.images}
    test_rows = {img.tobytes() for img in test_env.task.images}
    assert not train_rows & test_rows
    for seed in range(5):
        test_env.reset(seed=seed)
        assert test_env.task.canvases[0].tobytes() in test_rows  # 28x28: the canvas is the digit


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        (dict(glimpse_size=80), "glimpse_size=80 is larger than canvas_size=60"),
        (dict(glimpse_size=0), "glimpse_size must be a positive integer"),
        (dict(canvas_size=-5), "canvas_size must be a positive integer"),
        (dict(split="dev"), "unknown split 'dev'"),
        (dict(first_location="corner"), "first_location must be one of"),
        (dict(n_clutter=-1), "n_clutter must be a non-negative integer"),
        (dict(n_scales=40), "largest glimpse patch would be 6597069766656px"),  # was NaN glimpses
    ],
)
def test_bad_constructor_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        gym.make("rnnagents/ClutteredMNIST-v0", **kwargs)


@pytest.mark.parametrize(
    "action,fragment",
    [
        (act((1.5, 0.0)), "outside \\[-1, 1\\]"),
        (act((np.nan, 0.0)), "NaN"),
        ({"location": np.zeros(3), "class": 0}, "shape \\(3,\\)"),
        (act(klass=10), "must be in \\[0, 10\\)"),
        (act(klass=2.5), "integer class"),
        (np.zeros(2), "dict with keys"),
    ],
)
def test_bad_actions(action, fragment):
    env = gym.make("rnnagents/ClutteredMNIST60-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=fragment):
        env.step(action)


def test_step_before_reset():
    with pytest.raises(ResetNeeded):
        gym.make("rnnagents/ClutteredMNIST60-v0").unwrapped.step(act())
    vec = gym.make_vec(
        "rnnagents/ClutteredMNIST60-v0", num_envs=2, vectorization_mode="vector_entry_point"
    )
    with pytest.raises(ResetNeeded):
        vec.step(vec.action_space.sample())


def test_render_shows_boxes_and_path():
    env = gym.make("rnnagents/ClutteredMNIST60-v0", render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    env.step(act((0.5, 0.5)))
    second = env.render()
    assert first.shape == second.shape == (300, 300, 3) and first.dtype == np.uint8
    green = (second[..., 1] == 255) & (second[..., 0] == 0)
    assert green.any() and not np.array_equal(first, second)
    assert env.metadata["render_fps"] > 0


ENV_FOR_HYPOTHESIS = {}


@settings(max_examples=30, deadline=None)
@given(
    env_id=st.sampled_from(IDS),
    seed=st.integers(0, 2**31 - 1),
    locations=st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=1, max_size=9),
)
def test_observations_stay_in_space(env_id, seed, locations):
    env = ENV_FOR_HYPOTHESIS.setdefault(env_id, gym.make(env_id).unwrapped)
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    for loc in locations:
        obs, reward, terminated, _, _ = env.step(act(loc, 3))
        assert env.observation_space.contains(obs) and reward in (0.0, 1.0)
        if terminated:
            break


def test_sb3_flat_action_with_nan_scores_is_refused_not_class_0():
    env = sb3_glimpse_env(gym.make("rnnagents/MNIST28-v0"))
    env.reset(seed=0)
    action = np.zeros(12, dtype=np.float32)
    action[2:] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(action)
