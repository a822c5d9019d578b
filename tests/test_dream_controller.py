"""The dream (batched and as a Gymnasium env), the controller, and CMA-ES in the dream."""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from rnnagents.agents.controller import BatchedController, n_params
from rnnagents.common.run_logger import RunLogger, read_metrics
from rnnagents.envs.carracing import ACTION_HIGH, ACTION_LOW, OFF_PLAYFIELD_REWARD, STEP_REWARD
from rnnagents.train.worldmodel.cmaes import (
    ES_FILE,
    dream_returns,
    load_checks,
    train_controller,
)
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.dream import BatchedDream
from rnnagents.worldmodel.mdnrnn import MDNRNN
from rnnagents.worldmodel.policy import (
    ControllerActor,
    ControllerFactory,
    WorldModelPolicy,
    WorldModelWeights,
)
from rnnagents.worldmodel.run_files import load_controller_params
from rnnagents.worldmodel.vae import ConvVAE, frames_to_tensor


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    mdnrnn = MDNRNN().eval()
    starts = torch.stack([torch.randn(6, 32), torch.full((6, 32), -2.0)], 1)  # [K, 2, z]
    return ConvVAE().eval(), mdnrnn, starts


def test_controller_has_867_parameters_and_respects_bounds():
    assert n_params() == 867
    rng = np.random.default_rng(0)
    params = rng.normal(0, 100, (3, 867))  # extreme weights saturate, never leave the bounds
    controller = BatchedController(params, repeats=2)
    z, h = torch.randn(6, 32) * 100, torch.randn(6, 256) * 100
    actions = controller.act(z, h)
    assert actions.shape == (6, 3)
    assert actions[:, 0].abs().max() <= 1 and actions[:, 1:].min() >= 0
    assert actions[:, 1:].max() <= 1
    # Rows 2i and 2i+1 belong to candidate i.
    same = BatchedController(params[1]).act(z[2:4], h[2:4])
    torch.testing.assert_close(same, actions[2:4])
    with pytest.raises(ValueError, match="867 parameters"):
        BatchedController(np.zeros(10))


def test_world_model_policy_drives_with_the_controller_as_it_always_did(parts):
    """z = V's mean of the frame, a = C(z, h), then M steps with (z, a); reset starts afresh."""
    vae, mdnrnn, _ = parts
    params = np.random.default_rng(0).normal(0, 0.5, n_params())
    frames = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    policy = WorldModelPolicy(vae, mdnrnn, ControllerActor(params))
    controller = BatchedController(params)
    for _ in range(2):
        policy.reset()
        state = mdnrnn.initial_state(1)
        for frame in frames:
            with torch.no_grad():
                mu, _ = vae.encode(frames_to_tensor(frame[None]))
                expected = controller.act(mu, state[0])
                _, _, state = mdnrnn.step(mu, expected, state)
            np.testing.assert_array_equal(policy(frame), expected[0].numpy())


def test_world_model_weights_travel_as_bytes_and_rebuild_the_same_policy(parts):
    """What a worker gets instead of a run directory: V and M rebuilt from bytes act alike,
    and the digest (the worker's cache key) tells weights apart."""
    vae, mdnrnn, _ = parts
    config = WorldModelConfig()
    weights = WorldModelWeights.of(vae, mdnrnn, config)
    shipped = pickle.loads(pickle.dumps(weights))
    assert shipped == weights and hash(shipped) == hash(weights)
    params = np.random.default_rng(0).normal(0, 0.5, n_params())
    frames = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    here = WorldModelPolicy(vae, mdnrnn, ControllerActor(params))
    there = ControllerFactory.of(shipped, params)()
    for frame in frames:
        np.testing.assert_array_equal(there(frame), here(frame))
    other = MDNRNN().eval()
    assert WorldModelWeights.of(vae, other, config).digest != weights.digest


def test_controller_factory_noise_is_seeded_bounded_and_off_at_zero(parts):
    """C plus OU noise: drawn from the episode's generator (same seed, same actions), kept in
    CarRacing's action bounds, and at noise 0 exactly C."""
    vae, mdnrnn, _ = parts
    weights = WorldModelWeights.of(vae, mdnrnn, WorldModelConfig())
    params = np.random.default_rng(0).normal(0, 0.5, n_params())
    frames = np.random.default_rng(1).integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)

    def play(noise, seed):
        policy = ControllerFactory.of(weights, params, noise)(np.random.default_rng(seed))
        return np.stack([policy(frame) for frame in frames])

    plain = play(0.0, 0)
    noisy = play(0.3, 0)
    np.testing.assert_array_equal(noisy, play(0.3, 0))
    assert not np.array_equal(noisy, play(0.3, 1))
    assert np.abs(noisy - plain).mean() > 0.05
    assert (noisy >= ACTION_LOW).all() and (noisy <= ACTION_HIGH).all()
    with pytest.raises(ValueError, match="generator"):
        ControllerFactory.of(weights, params, 0.1)()


def test_dream_action_noise_is_seeded_and_changes_the_returns(parts):
    """CMA-ES can train C with the noise it will be scored with: drawn from the dream's
    generator (same seed, same returns), and at 0 the noise-free dream exactly."""
    _, mdnrnn, starts = parts
    params = np.random.default_rng(0).normal(0, 0.5, (2, n_params()))

    def returns(noise, seed=0):
        dream = BatchedDream(mdnrnn, starts, 1.0, torch.Generator().manual_seed(seed))
        return dream_returns(params, dream, 3, 20, noise)

    np.testing.assert_array_equal(returns(0.3), returns(0.3))
    assert not np.array_equal(returns(0.3), returns(0.0))
    assert not np.array_equal(returns(0.3), returns(0.3, seed=1))
    plain = BatchedDream(mdnrnn, starts, 1.0, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(returns(0.0), dream_returns(params, plain, 3, 20))


def test_batched_dream_is_seeded_and_done_is_sticky(parts):
    _, mdnrnn, starts = parts

    def roll(seed):
        dream = BatchedDream(mdnrnn, starts, 1.15, torch.Generator().manual_seed(seed))
        z, h = dream.reset(4)
        zs = [z]
        for _ in range(5):
            z, h, reward, done = dream.step(torch.zeros(4, 3))
            zs.append(z)
            assert reward.shape == done.shape == (4,) and h.shape == (4, 256)
        return torch.stack(zs)

    assert torch.equal(roll(1), roll(1)) and not torch.equal(roll(1), roll(2))
    dream = BatchedDream(mdnrnn, starts, 1.0, torch.Generator().manual_seed(0))
    dream.reset(2)
    dream.done[0] = True
    _, _, _, done = dream.step(torch.zeros(2, 3))
    assert done[0]


def test_dream_env_passes_check_env_and_is_deterministic(parts):
    vae, mdnrnn, starts = parts
    env = gym.make(
        "rnnagents/Dream-v0",
        vae=vae,
        mdnrnn=mdnrnn,
        start_latents=starts,
        max_steps=20,
        render_mode="rgb_array",
    ).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # z is a Gaussian sample, so the [z, h] observation is unbounded by nature: gymnasium's
    # "minimum value is -infinity" / "maximum value is infinity" remarks are expected.
    assert [str(w.message) for w in caught if "infinity" not in str(w.message)] == []

    def trace(seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(5):
            obs, reward, terminated, truncated, _ = env.step(np.array([0.5, 0.5, 0.0], np.float32))
            out.append(obs)
        return np.stack(out)

    np.testing.assert_array_equal(trace(3), trace(3))
    assert not np.array_equal(trace(3), trace(4))
    assert env.render().shape == (256, 256, 3)
    with pytest.raises(ValueError, match="outside"):
        env.step(np.array([0.0, 2.0, 0.0], np.float32))


def test_cmaes_in_the_dream_improves_and_resumes_the_same_search(parts, tmp_path):
    _, mdnrnn, starts = parts
    kwargs = dict(
        popsize=8, rollouts=2, max_steps=15, seed=0, config={"test": True}, progress=False
    )

    def dream():
        return BatchedDream(mdnrnn, starts, 1.0, torch.Generator())

    straight, cut = tmp_path / "straight", tmp_path / "cut"
    for d in (straight, cut):
        d.mkdir()
    with RunLogger(straight, {}) as logger:
        final = train_controller(straight, dream(), generations=6, logger=logger, **kwargs)
    with RunLogger(cut, {}) as logger:
        train_controller(cut, dream(), generations=3, logger=logger, **kwargs)
    with RunLogger(cut, {}) as logger:
        resumed = train_controller(cut, dream(), generations=6, logger=logger, **kwargs)
    np.testing.assert_array_equal(final, resumed)
    means = [m["dream/mean"] for m in read_metrics(straight)]
    assert [m["step"] for m in read_metrics(cut)] == [1, 2, 3, 4, 5, 6]
    assert means[-1] > means[0]  # the search climbs M's (random) reward surface
    returns = dream_returns(final[None], dream(), 4, 15)
    assert returns.shape == (1, 4) and np.isfinite(returns).all()


class _RunsCode:
    """A pickle that would call os.system on load, as a crafted controller_es.pkl could."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_crafted_es_state_is_refused_without_running_it(tmp_path):
    import pickle

    from rnnagents.train.worldmodel.cmaes import ES_FILE, load_es

    marker = tmp_path / "ran"
    assert pickle.loads(pickle.dumps(_RunsCode(marker))) == 0 and marker.exists()  # it would run
    marker.unlink()
    (tmp_path / ES_FILE).write_bytes(pickle.dumps(_RunsCode(marker)))
    with pytest.raises(ValueError, match=r"CMA-ES state: it refers to (posix|os)\.system"):
        load_es(tmp_path / ES_FILE)
    assert not marker.exists()
    (tmp_path / ES_FILE).write_bytes(pickle.dumps({"not": "an ES"}))
    with pytest.raises(ValueError, match="holds dict"):
        load_es(tmp_path / ES_FILE)


def _fixed_heads(model: MDNRNN, tile_bias: float, done_bias: float, reward: float = 0.0):
    """Heads that ignore the LSTM: constant probabilities and a constant regressed reward."""
    with torch.no_grad():
        for head, bias in zip(model.heads(), (reward, tile_bias, done_bias), strict=True):
            head.weight.zero_()
            head.bias.fill_(bias)
    return model


def test_event_dream_pays_carracing_reward_weighted_by_survival(parts):
    _, _, starts = parts
    model = _fixed_heads(MDNRNN().eval(), tile_bias=30.0, done_bias=-30.0)
    dream = BatchedDream(model, starts, 1.0, torch.Generator().manual_seed(0), "events")
    dream.reset(3)
    _, _, reward, done = dream.step(torch.zeros(3, 3))
    expected = STEP_REWARD + model.tile_reward.item()  # a new tile every step, never off the field
    torch.testing.assert_close(reward, torch.full((3,), expected))
    assert not done.any()

    _fixed_heads(model, tile_bias=-30.0, done_bias=0.0)  # off the playfield with probability 1/2
    dream.reset(2)
    rewards, steps = [], 0
    while not dream.done.all():
        rewards.append(dream.step(torch.zeros(2, 3))[2][0].item())
        steps += 1
    step_value = 0.5 * STEP_REWARD + 0.5 * OFF_PLAYFIELD_REWARD
    np.testing.assert_allclose(rewards, [step_value * 0.5**t for t in range(steps)], rtol=1e-5)
    assert steps == 10  # survival 2^-10 < MIN_SURVIVAL = 1e-3

    regression = BatchedDream(
        _fixed_heads(MDNRNN().eval(), 0.0, 30.0, reward=2.5), starts, 1.0, None, "regression"
    )
    regression.reset(2)
    _, _, reward, done = regression.step(torch.zeros(2, 3))
    torch.testing.assert_close(reward, torch.full((2,), 2.5))
    assert done.all()
    with pytest.raises(ValueError, match="reward must be one of"):
        BatchedDream(model, starts, reward="sparse")


def test_dropout_mask_is_fixed_within_a_dream_and_fresh_for_the_next(parts):
    _, _, starts = parts
    torch.manual_seed(0)
    model = MDNRNN(dropout=0.5).eval()
    one_start = torch.stack([starts[0, 0], torch.full((32,), -60.0)])[None]  # z = mu, exactly
    dream = BatchedDream(model, one_start, 1.0, torch.Generator().manual_seed(0))
    dream.reset(2)
    masks = dream.masks
    assert masks.input is None and masks.state is None
    mask = masks.output.clone()
    assert mask.shape == (2, 256) and set(mask.unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(mask[0], mask[1])
    z = dream.z.clone()
    _, heads, state = model.step(z, torch.zeros(2, 3), model.initial_state(2), masks)
    assert torch.equal(state[0][0], state[0][1])  # C reads the same h ...
    assert heads.tile_logit[0] != heads.tile_logit[1]  # ... of two slightly different worlds
    dream.step(torch.zeros(2, 3))
    assert torch.equal(dream.masks.output, mask)
    dream.reset(2)
    assert not torch.equal(dream.masks.output, mask)
    assert MDNRNN().dream_masks(2) is None

    inputs = torch.randn(1, 4, 32), torch.randn(1, 4, 3)
    assert torch.equal(model(*inputs)[1].reward, model(*inputs)[1].reward)  # eval: no dropout
    model.train()
    assert not torch.equal(model(*inputs)[1].reward, model(*inputs)[1].reward)


def test_pick_by_real_keeps_the_checked_controller_that_scored_best_across_a_resume(
    parts, tmp_path
):
    _, mdnrnn, starts = parts
    checked = []

    def scorer_of(scores):
        scores = iter(scores)

        def score(params):
            checked.append(params.copy())
            return next(scores)

        return score

    kwargs = dict(
        popsize=4, rollouts=1, max_steps=5, seed=0, config={}, progress=False, pick_by_real=True
    )
    for generations, scores in ((4, [5.0, 9.0]), (6, [1.0])):  # checks after 2, 4 (cut), 6
        dream = BatchedDream(mdnrnn, starts, 1.0, torch.Generator())
        with RunLogger(tmp_path, {}) as logger:
            final = train_controller(
                tmp_path,
                dream,
                generations=generations,
                logger=logger,
                real_scorer=scorer_of(scores),
                real_check_every=2,
                **kwargs,
            )
    assert len(checked) == 3 and not np.array_equal(checked[1], checked[2])
    np.testing.assert_array_equal(final, checked[1].astype(np.float32))
    np.testing.assert_array_equal(load_controller_params(tmp_path), final)
    reals = [(m["step"], m["real/mean"]) for m in read_metrics(tmp_path) if "real/mean" in m]
    assert reals == [(2, 5.0), (4, 9.0), (6, 1.0)]
    checks = load_checks(tmp_path / run_files.CONTROLLER)  # every check, kept across the resume
    assert [(c.generation, c.real) for c in checks] == [(2, 5.0), (4, 9.0), (6, 1.0)]
    for check, params in zip(checks, checked, strict=True):
        np.testing.assert_array_equal(check.params, params)


def test_a_kill_between_the_controller_and_the_es_state_replays_its_check_once(parts, tmp_path):
    _, mdnrnn, starts = parts
    kwargs = dict(popsize=4, rollouts=1, max_steps=5, seed=0, config={}, progress=False)

    def train(generations: int) -> None:
        dream = BatchedDream(mdnrnn, starts, 1.0, torch.Generator())
        with RunLogger(tmp_path, {}) as logger:
            train_controller(
                tmp_path, dream, generations=generations, logger=logger,
                real_scorer=lambda params: 1.0, real_check_every=2, **kwargs,
            )  # fmt: skip

    train(2)
    state_at_2 = (tmp_path / ES_FILE).read_bytes()
    train(4)
    (tmp_path / ES_FILE).write_bytes(state_at_2)  # as if killed after generation 4's checkpoint
    train(4)
    assert [c.generation for c in load_checks(tmp_path / run_files.CONTROLLER)] == [2, 4]
