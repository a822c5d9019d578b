"""Films of a RAM at work: the canvas with its glimpse boxes and path, the glimpse it saw,
and its answer. Used by ``rnnagents watch`` and for W&B media during training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnagents.agents.ram import RecurrentAttentionModel
from rnnagents.envs.render import glimpse_panel, put_caption
from rnnagents.train.checkpoint import load_checkpoint
from rnnagents.train.config import from_dict
from rnnagents.train.ram_config import RAMRunConfig
from rnnagents.train.ram_eval import EVAL_SEED
from rnnagents.train.ram_rollout import glimpse_pixels, make_glimpse_vec_env, play_batch
from rnnagents.train.run_dir import BEST_FILE, CHECKPOINT_FILE
from rnnagents.train.run_logger import RunLogger
from rnnagents.train.video import tile_frames, write_video

FPS = 2


def load_ram(run_dir: str | Path, device: torch.device, best: bool = True):
    """(model, config) from a run directory's best (or latest) checkpoint."""
    run_dir = Path(run_dir)
    path = run_dir / (BEST_FILE if best and (run_dir / BEST_FILE).exists() else CHECKPOINT_FILE)
    ckpt = load_checkpoint(path, expected_kind="ram")
    config = from_dict(RAMRunConfig, ckpt["config"])
    envs = make_glimpse_vec_env(config.env_id, 1, "test", **config.env_kwargs())
    model = RecurrentAttentionModel(config.model_config(glimpse_pixels(envs))).to(device)
    envs.close()
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit the model its config describes: {err}") from err
    return model.eval(), config


@torch.no_grad()
def episode_films(
    model: RecurrentAttentionModel,
    config: RAMRunConfig,
    episodes: int,
    device: torch.device,
    split: str = "test",
    seed: int = EVAL_SEED,
) -> list[list[np.ndarray]]:
    """One list of frames per episode: a frame per glimpse, then one with the answer."""
    envs = make_glimpse_vec_env(
        config.env_id, episodes, split, render_mode="rgb_array", **config.env_kwargs()
    )
    n_glimpses = envs.unwrapped.config.n_glimpses
    films: list[list[np.ndarray]] = [[] for _ in range(episodes)]

    def film(t: int, obs: dict, logits: torch.Tensor | None) -> None:
        if logits is None:
            for i, canvas in enumerate(envs.render()):
                caption = put_caption(canvas, f"glimpse {t + 1}/{n_glimpses}")
                panel = glimpse_panel(obs["glimpse"][i], canvas.shape[0])
                films[i].append(tile_frames([[caption, panel]]))
            return
        labels = envs.unwrapped.task.labels
        for i, answer in enumerate(logits.argmax(-1).tolist()):
            verdict = "right" if answer == labels[i] else "wrong"
            films[i].append(
                put_caption(films[i][-1], f"answer {answer} ({verdict}, true {labels[i]})", 1)
            )

    generator = torch.Generator(device=device).manual_seed(seed)
    play_batch(model, envs, device, generator, seed=seed, observer=film)
    envs.close()
    return films


def log_glimpse_media(
    model, config: RAMRunConfig, device, run_dir: Path, logger: RunLogger, epoch: int
) -> None:
    """A short glimpse video and a figure of glimpse paths, for W&B during training."""
    films = episode_films(model, config, 4, device, split="validation")
    video = write_video(
        [f for film in films for f in film],
        run_dir / "media" / f"glimpses_{epoch:04d}.mp4",
        fps=FPS,
    )
    logger.log_video("media/glimpses", video, step=epoch)
    logger.log_image("media/glimpse_paths", tile_frames([[film[-1] for film in films]]), step=epoch)
