"""Films of a RAM at work: the canvas with its glimpse boxes and path, the glimpse it saw,
and its answer. Used by ``rnnagents watch`` and for W&B media during training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnagents.agents.ram import RecurrentAttentionModel
from rnnagents.common.device import resolve_device
from rnnagents.common.run_logger import RunLogger
from rnnagents.common.video import tile_frames, write_video
from rnnagents.envs.glimpse_task import EVAL_SEED
from rnnagents.envs.render import FILM_FPS, glimpse_panel, put_caption
from rnnagents.train.ram.config import RAMRunConfig
from rnnagents.train.ram.evaluate import load_ram
from rnnagents.train.ram.rollout import make_glimpse_vec_env, play_batch


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
        fps=FILM_FPS,
    )
    logger.log_video("media/glimpses", video, step=epoch)
    logger.log_image("media/glimpse_paths", tile_frames([[film[-1] for film in films]]), step=epoch)


def film(
    run_dir: str | Path, episodes: int, max_steps: int | None = None, device: str = "auto"
) -> tuple[list[np.ndarray], int]:
    """(frames, fps) of ``episodes`` test episodes of a RAM run, for ``rnnagents watch``."""
    if max_steps is not None:
        raise ValueError("--max-steps does not apply to RAM runs: their episodes have fixed length")
    torch_device = resolve_device(device)
    model, config = load_ram(run_dir, torch_device)
    films = episode_films(model, config, episodes, torch_device)
    return [frame for one in films for frame in one], FILM_FPS
