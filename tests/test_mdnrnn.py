"""MDN-RNN: shapes, a loss that stays finite anywhere, temperature sampling, resumable training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnagents.common.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnagents.common.executor import SerialExecutor
from rnnagents.common.run_logger import RunLogger, read_metrics
from rnnagents.envs.carracing import STEP_REWARD
from rnnagents.train import loop
from rnnagents.train.worldmodel.fit import _MDNRNNTask, event_stats, split_heldout, train_mdnrnn
from rnnagents.worldmodel.collect import collect
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.encode import encode_shards
from rnnagents.worldmodel.heldout import heldout_metrics
from rnnagents.worldmodel.mdnrnn import (
    LOG_SIGMA_MAX,
    LOG_SIGMA_MIN,
    MDNRNN,
    DreamMasks,
    MDNOutput,
    _keep_mask,
    load_mdnrnn,
    mdn_loss,
    mdnrnn_loss,
    off_playfield,
    sample_mdn,
    tile_events,
)
from rnnagents.worldmodel.shards import LATENTS, list_shards, read_shard, write_shard
from rnnagents.worldmodel.vae import ConvVAE

pytestmark = pytest.mark.filterwarnings("ignore:builtin type Swig:DeprecationWarning")

CONFIG = WorldModelConfig(
    mdn_epochs=10, mdn_seq_len=16, mdn_batch_size=4, mdn_lr=3e-3, mdn_hidden=64, device="cpu"
)


@pytest.fixture(scope="module")
def latent_dir(tmp_path_factory):
    """Two short real episodes encoded by a seeded random VAE.

    Untrained, its means barely vary between frames (std ~0.002) and its sigmas are ~1, which
    would leave the MDN-RNN only noise to fit; scaled up, the latents follow the frames.
    """
    frames = tmp_path_factory.mktemp("frames")
    collect(frames, 2, 60, [31, 32], SerialExecutor(), progress=False)
    torch.manual_seed(0)
    vae = ConvVAE()
    with torch.no_grad():
        vae.to_mu.weight.mul_(1000.0)
        vae.to_logvar.bias.fill_(-6.0)
    latents = tmp_path_factory.mktemp("latents")
    encode_shards(vae, frames, latents, "cpu", progress=False)
    return latents


def test_shapes_and_step_matches_forward():
    torch.manual_seed(0)
    model = MDNRNN()
    z, a = torch.randn(3, 7, 32), torch.randn(3, 7, 3)
    out, heads, (h, c) = model(z, a)
    assert all(t.shape == (3, 7, 5, 32) for t in out)
    assert all(t.shape == (3, 7) for t in heads) and h.shape == c.shape == (3, 256)
    torch.testing.assert_close(out.log_pi.exp().sum(-2), torch.ones(3, 7, 32))
    assert LOG_SIGMA_MIN - 1e-3 <= out.log_sigma.min() and out.log_sigma.max() <= LOG_SIGMA_MAX

    state = model.initial_state(3)
    assert all(torch.equal(s, torch.zeros(3, 256)) for s in state)
    for t in range(7):
        step_out, step_heads, state = model.step(z[:, t], a[:, t], state)
        assert all(s.shape == (3, 5, 32) for s in step_out) and step_heads.reward.shape == (3,)
        torch.testing.assert_close(step_out.mu, out.mu[:, t])
        for step_head, head in zip(step_heads, heads, strict=True):
            torch.testing.assert_close(step_head, head[:, t])
    torch.testing.assert_close(state[0], h)


def test_loss_and_gradients_stay_finite_for_extreme_values():
    torch.manual_seed(0)
    model = MDNRNN()
    with torch.no_grad():  # heads that produce logits ~1e4 and huge means / log sigmas
        model.mdn_head.weight.mul_(1e4)
        model.done_head.weight.mul_(1e4)
        model.tile_head.weight.mul_(1e4)
    mu = torch.full((2, 6, 32), 1e6)
    mu[0, ::2] = -1e6  # jumps of 2e6 between steps
    batch = {
        "mu": mu,
        "logvar": torch.full((2, 6, 32), 30.0),  # sampled z ~ 3e6 off mu
        "actions": torch.full((2, 5, 3), 1e6),
        "rewards": torch.full((2, 5), -1e6),
        "terminations": torch.ones(2, 5, dtype=torch.bool),
        "mask": torch.ones(2, 5, dtype=torch.bool),
        "next_mask": torch.ones(2, 5, dtype=torch.bool),
    }
    out, *_ = model(mu[:, :-1], batch["actions"])
    assert out.log_pi.abs().max() > 1e3 and out.log_sigma.min() < LOG_SIGMA_MIN + 0.1
    loss = mdnrnn_loss(model, batch, done_pos_weight=10.0)
    loss.total.backward()
    assert all(torch.isfinite(t) for t in loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())

    # Hand-made extremes: tiny sigmas, near-one-hot mixture weights, targets 1e30 away.
    raw_logits = torch.randn(4, 5, 32) * 1e4
    mu = torch.full((4, 5, 32), 1e6, requires_grad=True)
    log_sigma = torch.full((4, 5, 32), LOG_SIGMA_MIN, requires_grad=True)
    extreme = MDNOutput(torch.log_softmax(raw_logits, -2), mu, log_sigma)
    for target in (torch.full((4, 32), -1e6), torch.full((4, 32), 1e30), torch.zeros(4, 32)):
        value = mdn_loss(extreme, target)
        grads = torch.autograd.grad(value, (mu, log_sigma))
        assert torch.isfinite(value) and all(torch.isfinite(g).all() for g in grads)


def test_loss_is_the_mixture_negative_log_likelihood():
    out = MDNOutput(
        torch.log(torch.tensor([[0.25], [0.75]])),
        torch.tensor([[0.0], [2.0]]),
        torch.log(torch.tensor([[1.0], [0.5]])),
    )
    density = 0.25 * math.exp(-0.5) / math.sqrt(2 * math.pi) + 0.75 * math.exp(-2) / (
        0.5 * math.sqrt(2 * math.pi)
    )
    assert mdn_loss(out, torch.tensor([1.0])).item() == pytest.approx(-math.log(density))
    masked = mdn_loss(
        MDNOutput(*(t.expand(3, 2, 1) for t in out)),
        torch.tensor([[1.0], [1e3], [1.0]]),
        mask=torch.tensor([True, False, True]),
    )
    assert masked.item() == pytest.approx(-math.log(density))


def test_sampling_follows_temperature():
    # Two components far apart: 90% at -10, 10% at +10, both with sigma 0.1.
    log_pi = torch.log(torch.tensor([0.9, 0.1]))[None, :, None].expand(20000, 2, 1)
    mu = torch.tensor([-10.0, 10.0])[None, :, None].expand(20000, 2, 1)
    out = MDNOutput(log_pi, mu, torch.full((20000, 2, 1), math.log(0.1)))
    generator = torch.Generator().manual_seed(0)
    share = {
        tau: (sample_mdn(out, tau, generator) > 0).float().mean().item() for tau in (0.5, 1.0, 3.0)
    }
    assert share[0.5] == pytest.approx(1 / 82, abs=0.005)  # 0.1^2 / (0.9^2 + 0.1^2)
    assert share[1.0] == pytest.approx(0.1, abs=0.01)
    assert share[3.0] > 0.3
    near = sample_mdn(out, 4.0, generator)
    near = near[near < 0] + 10.0
    assert near.std().item() == pytest.approx(0.1 * 2.0, rel=0.05)  # sigma * sqrt(tau)

    model_out = MDNRNN().step(torch.randn(6, 32), torch.randn(6, 3), MDNRNN().initial_state(6))[0]
    a = sample_mdn(model_out, 1.15, torch.Generator().manual_seed(1))
    b = sample_mdn(model_out, 1.15, torch.Generator().manual_seed(1))
    assert a.shape == (6, 32) and torch.isfinite(a).all() and torch.equal(a, b)
    with pytest.raises(ValueError, match="temperature"):
        sample_mdn(model_out, 0.0)


def _train(run_dir, config, latent_dir):
    with RunLogger(run_dir, config.as_dict()) as logger:
        return train_mdnrnn(
            latent_dir, run_dir / "mdnrnn.pt", config, "cpu", logger, progress=False
        )


def test_training_lowers_the_loss(tmp_path, latent_dir):
    assert _train(tmp_path, CONFIG, latent_dir)
    metrics = read_metrics(tmp_path)
    assert len(metrics) == CONFIG.mdn_epochs
    assert metrics[-1]["mdnrnn/loss"] < metrics[0]["mdnrnn/loss"] - 0.1
    assert metrics[-1]["mdnrnn/mdn"] < metrics[0]["mdnrnn/mdn"]
    model = load_mdnrnn(tmp_path / "mdnrnn.pt", CONFIG)
    assert model.hidden_size == 64 and not model.training


class _StopAfter:
    """Stands in for StopRequest: asks to stop once ``checks`` batches have been asked about."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    @property
    def requested(self) -> bool:
        self.checks -= 1
        return self.checks < 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def test_resume_mid_epoch_and_across_epochs_matches_an_uninterrupted_run(
    tmp_path, latent_dir, monkeypatch
):
    config = WorldModelConfig(**{**CONFIG.as_dict(), "mdn_epochs": 2})
    _train(tmp_path / "straight", config, latent_dir)

    one_epoch = WorldModelConfig(**{**CONFIG.as_dict(), "mdn_epochs": 1})
    with monkeypatch.context() as patch:
        patch.setattr(loop, "StopRequest", lambda: _StopAfter(1))
        assert not _train(tmp_path / "resumed", one_epoch, latent_dir)  # Ctrl-C mid-epoch
    ckpt = load_checkpoint(tmp_path / "resumed" / "mdnrnn.pt")
    assert (ckpt["epoch"], ckpt["batch"]) == (0, 1)
    assert _train(tmp_path / "resumed", one_epoch, latent_dir)
    assert load_checkpoint(tmp_path / "resumed" / "mdnrnn.pt")["epoch"] == 1
    assert _train(tmp_path / "resumed", config, latent_dir)

    straight = load_checkpoint(tmp_path / "straight" / "mdnrnn.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "mdnrnn.pt")
    assert (resumed["epoch"], resumed["step"]) == (straight["epoch"], straight["step"])
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)


def test_wrong_checkpoint_is_refused(tmp_path, latent_dir):
    save_checkpoint(tmp_path / "mdnrnn.pt", {"kind": "vae", "config": CONFIG.as_dict()})
    with pytest.raises(CheckpointError, match="'vae' checkpoint, expected 'mdnrnn'"):
        _train(tmp_path, CONFIG, latent_dir)
    _train(
        tmp_path / "small", WorldModelConfig(**{**CONFIG.as_dict(), "mdn_epochs": 1}), latent_dir
    )
    with pytest.raises(CheckpointError, match="mdn_hidden"):
        load_mdnrnn(tmp_path / "small" / "mdnrnn.pt", WorldModelConfig(mdn_hidden=128))


def test_reward_events_are_read_off_carracing_rewards():
    rewards = torch.tensor([-0.1, 3.2, -100.0, 6.5, -0.1])
    terminations = torch.tensor([False, False, True, False, True])  # the last: a finished lap
    assert tile_events(rewards).tolist() == [False, True, False, True, False]
    assert off_playfield(rewards, terminations).tolist() == [False, False, True, False, False]


def test_heldout_metrics_compare_the_dream_reward_with_the_real_one(latent_dir):
    shards = list_shards(latent_dir)
    model = MDNRNN(hidden_size=64)
    with torch.no_grad():  # a dream that pays a new tile every step and never ends
        for head, bias in zip(model.heads(), (0.0, 30.0, -30.0), strict=True):
            head.weight.zero_()
            head.bias.fill_(bias)
    real = np.concatenate([read_shard(p, LATENTS)["rewards"] for p in shards])
    paid = STEP_REWARD + model.tile_reward.item()
    metrics = heldout_metrics(model, shards, "events")
    assert metrics["heldout/reward_mse"] == pytest.approx(np.mean((paid - real) ** 2), rel=1e-4)
    assert metrics["heldout/tile_p_off"] == pytest.approx(1.0)
    assert metrics["heldout/end_p_off"] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(metrics["heldout/end_p_on"])  # no episode left the playfield
    assert heldout_metrics(model, shards, "regression")["heldout/reward_mse"] == pytest.approx(
        np.mean(real**2), rel=1e-4
    )
    assert math.isfinite(metrics["heldout/nll"]) and model.training  # mode is restored


def test_training_logs_heldout_errors_and_saves_the_measured_tile_reward(tmp_path, latent_dir):
    config = WorldModelConfig(**{**CONFIG.as_dict(), "mdn_epochs": 2, "mdn_holdout_episodes": 1})
    assert _train(tmp_path, config, latent_dir)
    metrics = read_metrics(tmp_path)
    assert all(math.isfinite(m["mdnrnn/heldout/reward_mse"]) for m in metrics)
    assert "mdnrnn/heldout/tile_p_on" in metrics[-1] and "mdnrnn/tile" in metrics[-1]
    first = list_shards(latent_dir)[:1]
    model = load_mdnrnn(tmp_path / "mdnrnn.pt", config)
    assert model.tile_reward.item() == pytest.approx(event_stats(first).tile_reward)
    with pytest.raises(ValueError, match="hold out 2 of 2"):
        split_heldout(list_shards(latent_dir), 2)


def test_event_stats_measure_the_tile_reward_and_the_event_rates(tmp_path):
    episode = {
        "mu": np.zeros((4, 2), np.float32),
        "logvar": np.zeros((4, 2), np.float32),
        "actions": np.zeros((4, 3), np.float32),
        "rewards": np.array([-0.1, 3.9, 7.9, -100.0], np.float32),
        "terminations": np.array([0, 0, 0, 1], bool),
        "episode_seed": 0,
        "vae_digest": "x",
    }
    path = write_shard(tmp_path, "episode", episode, LATENTS)
    stats = event_stats([path])
    assert stats.tile_reward == pytest.approx(6.0)  # (4.0 + 8.0) / 2
    assert (stats.tile_rate, stats.end_rate) == (0.5, 0.25)


def test_event_heads_start_at_the_base_rates_of_their_events(tmp_path, latent_dir):
    config = WorldModelConfig(**{**CONFIG.as_dict(), "mdn_epochs": 1})
    with RunLogger(tmp_path, config.as_dict()) as logger:
        task = _MDNRNNTask(list_shards(latent_dir), config, "cpu", logger, progress=False)
    stats = event_stats(list_shards(latent_dir))
    p_tile = torch.sigmoid(task.model.tile_head.bias).item()
    p_end = torch.sigmoid(task.model.done_head.bias).item()
    assert p_tile == pytest.approx(min(max(stats.tile_rate, 1e-5), 0.5), rel=1e-4)
    assert p_end == pytest.approx(max(stats.end_rate, 1e-5), rel=1e-4)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dream_reward", "sparse", "dream_reward must be one of"),
        ("mdn_dropout", 1.0, "mdn_dropout must be in"),
        ("mdn_recurrent_dropout", -0.1, "mdn_recurrent_dropout must be in"),
        ("collect_follow_fraction", 1.5, "collect_follow_fraction must be in"),
        ("select_noises", "0.1,x", "select_noises: 'x' is not a number"),
        ("select_noises", "0.1, -0.2", "select_noises: a noise std must be >= 0"),
        ("select_noises", "0.1", "select_noises needs select_tracks > 0"),
        (
            "mdn_holdout_episodes",
            -1,
            r"mdn_holdout_episodes \(--mdn-holdout-episodes\) must be >= 0",
        ),
    ],
)
def test_config_refuses_values_outside_the_new_fields_ranges(field, value, message):
    with pytest.raises(ValueError, match=message):
        WorldModelConfig(**{field: value})


def test_recurrent_dropout_in_training_is_the_dreams_input_and_state_masks():
    """Training drops input units per sequence and state units per batch (as weight columns);
    a dream stepping with those same masks computes the very same predictions."""
    torch.manual_seed(0)
    rate, batch, steps = 0.3, 3, 5
    model = MDNRNN(hidden_size=16, n_mixtures=2, recurrent_dropout=rate)
    z, a = torch.randn(batch, steps, 32), torch.randn(batch, steps, 3)
    torch.manual_seed(1)
    input_mask = _keep_mask((batch, 1, model.input_size), rate, "cpu")
    state_mask = _keep_mask((1, model.hidden_size), rate, "cpu")
    torch.manual_seed(1)
    trained, trained_heads, _ = model.train()(z, a)
    masks = DreamMasks(output=None, input=input_mask[:, 0], state=state_mask.expand(batch, -1))
    model.eval()
    state, stepped = model.initial_state(batch), []
    for t in range(steps):
        out, heads, state = model.step(z[:, t], a[:, t], state, masks)
        stepped.append(heads.tile_logit)
    torch.testing.assert_close(torch.stack(stepped, 1), trained_heads.tile_logit)
    plain = model(z, a)[1].tile_logit
    assert not torch.allclose(plain, trained_heads.tile_logit)  # the masks did change something
    with pytest.raises(ValueError, match="one step at a time"):
        model(z, a, masks=masks)


def test_recurrent_dropout_trains_the_recurrent_weights_and_leaves_eval_deterministic():
    torch.manual_seed(0)
    model = MDNRNN(hidden_size=16, n_mixtures=2, recurrent_dropout=0.2).train()
    z, a = torch.randn(2, 4, 32), torch.randn(2, 4, 3)
    out, heads, _ = model(z, a)
    (mdn_loss(out, torch.randn(2, 4, 32)) + heads.tile_logit.sum()).backward()
    for name, parameter in model.lstm.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert not torch.equal(model(z, a)[1].reward, model(z, a)[1].reward)
    model.eval()
    assert torch.equal(model(z, a)[1].reward, model(z, a)[1].reward)
    masks = model.dream_masks(4, torch.Generator().manual_seed(0))
    assert masks.output is None
    assert masks.input.shape == (4, 35) and masks.state.shape == (4, 16)
    assert set(masks.state.unique().tolist()) <= {0.0, 1.25}
