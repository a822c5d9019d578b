"""ConvVAE: shapes, the free-bits loss, resumable training on real frames, encoding shards."""

from __future__ import annotations

import pytest
import torch

from rnnagents.common.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnagents.common.executor import SerialExecutor
from rnnagents.common.run_logger import RunLogger, read_metrics
from rnnagents.train.worldmodel.fit import train_vae
from rnnagents.worldmodel.collect import collect
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.encode import encode_shards
from rnnagents.worldmodel.shards import LATENTS, list_shards, read_shard
from rnnagents.worldmodel.vae import ConvVAE, load_vae, vae_loss

pytestmark = pytest.mark.filterwarnings("ignore:builtin type Swig:DeprecationWarning")

CONFIG = WorldModelConfig(
    vae_epochs=3, vae_batch_size=20, vae_lr=1e-3, vae_shards_in_memory=2, device="cpu"
)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    """Two short real episodes (80 frames), shared by this module's tests."""
    out = tmp_path_factory.mktemp("frames")
    collect(out, 2, 40, [21, 22], SerialExecutor(), progress=False)
    return out


def test_shapes():
    vae = ConvVAE(z_dim=32)
    x = torch.rand(5, 3, 64, 64)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 32)
    recon, mu2, _ = vae(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    assert vae.decode(mu).shape == (5, 3, 64, 64)
    assert torch.equal(mu, mu2)


def test_kl_is_floored_at_the_tolerance():
    x = torch.rand(4, 3, 64, 64)
    zeros = torch.zeros(4, 32)
    loss = vae_loss(x, x, zeros, zeros, kl_tolerance=0.5)  # posterior == prior: KL 0
    assert loss.kl.item() == pytest.approx(16.0) and loss.reconstruction.item() == 0.0
    far = vae_loss(x, x, torch.full((4, 32), 3.0), zeros, kl_tolerance=0.5)
    assert far.kl.item() == pytest.approx(0.5 * 9 * 32)
    assert vae_loss(x, x, zeros, zeros, kl_tolerance=0.0).kl.item() == 0.0


def _train(run_dir, config, shard_dir):
    with RunLogger(run_dir, config.as_dict()) as logger:
        return train_vae(shard_dir, run_dir / "vae.pt", config, "cpu", logger, progress=False)


def test_training_lowers_the_loss_and_resumes_exactly(tmp_path, shard_dir):
    assert _train(tmp_path / "straight", CONFIG, shard_dir)
    losses = [m["vae/loss"] for m in read_metrics(tmp_path / "straight")]
    assert len(losses) == 3 and losses[-1] < 0.9 * losses[0]

    one_epoch = WorldModelConfig(**{**CONFIG.as_dict(), "vae_epochs": 1})
    assert _train(tmp_path / "resumed", one_epoch, shard_dir)
    assert load_checkpoint(tmp_path / "resumed" / "vae.pt")["epoch"] == 1
    assert _train(tmp_path / "resumed", CONFIG, shard_dir)  # continues to epoch 3

    straight = load_checkpoint(tmp_path / "straight" / "vae.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "vae.pt")
    assert (resumed["epoch"], resumed["step"]) == (straight["epoch"], straight["step"]) == (3, 12)
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
    assert [m["step"] for m in read_metrics(tmp_path / "resumed")] == [4, 8, 12]


def test_wrong_kind_checkpoint_is_refused(tmp_path, shard_dir):
    save_checkpoint(tmp_path / "vae.pt", {"kind": "mdnrnn", "config": CONFIG.as_dict()})
    with pytest.raises(CheckpointError, match="'mdnrnn' checkpoint, expected 'vae'"):
        _train(tmp_path, CONFIG, shard_dir)


def test_encode_shards_writes_latents_and_skips_current_ones(tmp_path, shard_dir):
    torch.manual_seed(0)
    vae = ConvVAE().eval()
    paths = encode_shards(vae, shard_dir, tmp_path, "cpu", batch_size=16, progress=False)
    assert paths == list_shards(tmp_path) and len(paths) == 2
    latents, frames = read_shard(paths[0], LATENTS), read_shard(list_shards(shard_dir)[0])
    assert latents["mu"].shape == latents["logvar"].shape == (40, 32)
    assert latents["episode_seed"] == frames["episode_seed"]
    torch.testing.assert_close(
        torch.from_numpy(latents["actions"]), torch.from_numpy(frames["actions"])
    )
    mtimes = [p.stat().st_mtime_ns for p in paths]
    encode_shards(vae, shard_dir, tmp_path, "cpu", progress=False)
    assert [p.stat().st_mtime_ns for p in paths] == mtimes  # same weights: kept

    with torch.no_grad():
        vae.to_mu.bias += 1.0
    encode_shards(vae, shard_dir, tmp_path, "cpu", progress=False)
    renewed = read_shard(paths[0], LATENTS)
    assert renewed["vae_digest"] != latents["vae_digest"]
    torch.testing.assert_close(
        torch.from_numpy(renewed["mu"]), torch.from_numpy(latents["mu"]) + 1.0
    )


def test_load_vae_round_trip(tmp_path, shard_dir):
    one_epoch = WorldModelConfig(**{**CONFIG.as_dict(), "vae_epochs": 1})
    _train(tmp_path, one_epoch, shard_dir)
    vae = load_vae(tmp_path / "vae.pt", one_epoch)
    assert not vae.training
    with pytest.raises(CheckpointError, match="z_dim"):
        load_vae(tmp_path / "vae.pt", WorldModelConfig(z_dim=16))
