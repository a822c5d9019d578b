"""Drawing what people look at: a glimpse episode (the canvas, the current glimpse's scale boxes,
the path so far), captions, and a sheet of any env's first frames (``rnnagents env show``).

Glimpse frames are drawn large (canvas upscaled to ~300 px) with OpenCV.
"""

from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np

from rnnagents.common.video import tile_frames
from rnnagents.envs.retina import patch_origins

TARGET_PIXELS = 300
FILM_FPS = 2  # films of glimpse episodes: one glimpse per half second
BOX_COLOURS = [(0, 255, 0), (0, 200, 255), (255, 160, 0), (255, 0, 255)]  # RGB, one per scale
PATH_COLOUR = (255, 60, 60)


def upscale_factor(canvas_size: int) -> int:
    return max(1, -(-TARGET_PIXELS // canvas_size))


def draw_glimpse_frame(
    canvas: np.ndarray,
    path: np.ndarray,
    glimpse_size: int,
    n_scales: int,
    scale: int = 2,
    caption: str | None = None,
) -> np.ndarray:
    """RGB frame of the uint8 ``canvas`` [W, W] with the glimpse path ``path`` [T, 2] (x, y).

    The last location of the path gets one box per scale; earlier ones are joined by a line.
    """
    w = canvas.shape[0]
    f = upscale_factor(w)
    frame = cv2.cvtColor(
        cv2.resize(canvas, (w * f, w * f), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2RGB
    )
    centres = [tuple(int(v) for v in ((p + 1.0) * (w * f / 2.0))) for p in np.asarray(path)]
    for a, b in zip(centres[:-1], centres[1:], strict=True):
        cv2.line(frame, a, b, PATH_COLOUR, 1, cv2.LINE_AA)
    for c in centres:
        cv2.circle(frame, c, 3, PATH_COLOUR, -1, cv2.LINE_AA)
    if len(path):
        sizes = glimpse_size * scale ** np.arange(n_scales)
        origins = patch_origins(np.asarray(path[-1:]), w, sizes)[0] * f
        for k, size in enumerate(sizes):
            row, col = origins[k]
            colour = BOX_COLOURS[k % len(BOX_COLOURS)]
            cv2.rectangle(
                frame,
                (int(col), int(row)),
                (int(col + size * f - 1), int(row + size * f - 1)),
                colour,
                2,
            )
    return put_caption(frame, caption) if caption else frame


def put_caption(frame: np.ndarray, text: str, line: int = 0) -> np.ndarray:
    """Write ``text`` in the top-left corner of a copy of ``frame`` (line 0, 1, ... downwards)."""
    out = frame.copy()
    cv2.putText(
        out,
        text,
        (6, 20 + 20 * line),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.55,
        (255, 255, 0),
        1,
        cv2.LINE_AA,
    )
    return out


def glimpse_panel(glimpse: np.ndarray, height: int) -> np.ndarray:
    """The agent's view: its patches [S, g, g] stacked vertically, RGB, ``height`` tall."""
    patches = [(np.clip(p, 0, 1) * 255).astype(np.uint8) for p in glimpse]
    column = np.concatenate([np.pad(p, 1, constant_values=128) for p in patches], axis=0)
    f = max(1, height // column.shape[0])
    big = cv2.resize(
        column, (column.shape[1] * f, column.shape[0] * f), interpolation=cv2.INTER_NEAREST
    )
    big = np.pad(big, ((0, max(0, height - big.shape[0])), (0, 0)))[:height]
    return cv2.cvtColor(big, cv2.COLOR_GRAY2RGB)


def first_frames(env_id: str, episodes: int, seed: int = 0, **env_kwargs) -> np.ndarray:
    """One image of the first frames of ``episodes`` episodes of ``env_id``, side by side;
    episode ``i`` is reset with seed ``seed + i``."""
    if episodes < 1:
        raise ValueError("--episodes must be >= 1")
    env = gym.make(env_id, render_mode="rgb_array", **env_kwargs)
    frames = []
    try:
        for i in range(episodes):
            env.reset(seed=seed + i)
            frames.append(env.render())
    finally:
        env.close()
    return tile_frames([frames])
