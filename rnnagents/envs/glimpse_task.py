"""The glimpse task's rules, shared by the single and the native vector environment.

One object, :class:`GlimpseTask`, holds N episodes as arrays (canvases, their summed-area
tables, labels, step counters, glimpse paths) and advances them together. The single env is
this with N = 1, so both envs have one implementation of the rules, not two.

Episode draws come from one ``numpy.random.Generator`` per episode slot, in a fixed order, so
the vector env seeded with ``s`` makes the same episodes as N single envs seeded ``s, s+1, ...``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from gymnasium import spaces

from rnnagents.envs.mnist_data import SPLITS, DataError, load_digits
from rnnagents.envs.retina import extract_glimpses, summed_area_tables

DIGIT_SIZE = 28
N_CLASSES = 10
FIRST_LOCATIONS = ("center", "random")
EVAL_SEED = 20_140_624  # fixed: every evaluation of a split sees the same episodes


@dataclass(frozen=True)
class GlimpseTaskConfig:
    """Everything that defines a glimpse task; presets in ``registration.py`` are instances."""

    canvas_size: int = 60
    glimpse_size: int = 12
    n_scales: int = 3
    scale: int = 2
    n_glimpses: int = 8
    n_clutter: int = 4
    clutter_size: int = 8
    first_location: str = "center"
    split: str = "train"

    def __post_init__(self) -> None:
        for name in ("canvas_size", "glimpse_size", "n_scales", "scale", "n_glimpses"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("n_clutter", "clutter_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.canvas_size < DIGIT_SIZE:
            raise ValueError(
                f"canvas_size={self.canvas_size} is smaller than a {DIGIT_SIZE}px digit"
            )
        if self.glimpse_size > self.canvas_size:
            raise ValueError(
                f"glimpse_size={self.glimpse_size} is larger than canvas_size={self.canvas_size}"
            )
        largest = self.glimpse_size * self.scale ** (self.n_scales - 1)
        if largest > 2 * self.canvas_size:
            raise ValueError(
                f"the largest glimpse patch would be {largest}px (glimpse_size * scale ** "
                f"(n_scales - 1)), more than twice the {self.canvas_size}px canvas; "
                "use fewer n_scales or a smaller scale"
            )
        if self.n_clutter > 0 and not 1 <= self.clutter_size <= DIGIT_SIZE:
            raise ValueError(f"clutter_size must be in [1, {DIGIT_SIZE}], got {self.clutter_size}")
        if self.first_location not in FIRST_LOCATIONS:
            raise ValueError(
                f"first_location must be one of {FIRST_LOCATIONS}, got {self.first_location!r}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; expected one of {SPLITS}")

    def as_dict(self) -> dict:
        return asdict(self)


def observation_space(config: GlimpseTaskConfig) -> spaces.Dict:
    g = config.glimpse_size
    return spaces.Dict(
        {
            "glimpse": spaces.Box(0.0, 1.0, (config.n_scales, g, g), np.float32),
            "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
        }
    )


def action_space() -> spaces.Dict:
    return spaces.Dict(
        {
            "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
            "class": spaces.Discrete(N_CLASSES),
        }
    )


@dataclass
class EpisodeDraws:
    """The random choices that make N episodes (arrays with a leading episode axis)."""

    digit: np.ndarray  # [N] index into the split's digits
    position: np.ndarray  # [N, 2] top-left (row, col) of the digit on the canvas
    clutter_digit: np.ndarray  # [N, K] source digit of each clutter piece
    clutter_crop: np.ndarray  # [N, K, 2] top-left (row, col) of the crop inside its source digit
    clutter_position: np.ndarray  # [N, K, 2] top-left (row, col) of the piece on the canvas
    first_location: np.ndarray  # [N, 2] (x, y) of the first glimpse


@functools.lru_cache(maxsize=64)
def _draw_bounds(config: GlimpseTaskConfig, n_digits: int) -> np.ndarray:
    """Exclusive upper bounds of an episode's integer draws, in draw order."""
    free = config.canvas_size - DIGIT_SIZE + 1
    crop_free = DIGIT_SIZE - config.clutter_size + 1
    piece_free = config.canvas_size - config.clutter_size + 1
    per_piece = [n_digits, crop_free, crop_free, piece_free, piece_free]
    return np.concatenate([[n_digits, free, free], np.repeat(per_piece, config.n_clutter)])


def draw_episodes(
    rngs: Sequence[np.random.Generator], n_digits: int, config: GlimpseTaskConfig
) -> EpisodeDraws:
    """One episode per generator, each drawn in a fixed order (this fixes reproducibility).

    An episode's integers are a single ``integers`` call, then (if random) its first location.
    """
    bounds = _draw_bounds(config, n_digits)
    ints = np.stack([rng.integers(bounds) for rng in rngs])
    pieces = ints[:, 3:].reshape(len(ints), 5, config.n_clutter)
    if config.first_location == "random":
        first = np.stack([rng.uniform(-1.0, 1.0, size=2) for rng in rngs])
    else:
        first = np.zeros((len(ints), 2))
    return EpisodeDraws(
        digit=ints[:, 0],
        position=ints[:, 1:3],
        clutter_digit=pieces[:, 0],
        clutter_crop=pieces[:, 1:3].transpose(0, 2, 1),
        clutter_position=pieces[:, 3:5].transpose(0, 2, 1),
        first_location=first,
    )


def _square_indices(planes: np.ndarray, top_left: np.ndarray, size: int, width: int) -> np.ndarray:
    """Flat indices [N, size, size] of squares at ``top_left`` [N, 2] of ``planes`` [N] in a
    stack of ``width x width`` planes: one 1-D gather/scatter instead of 3-D fancy indexing."""
    offsets = np.arange(size)
    base = planes * (width * width) + top_left[:, 0] * width + top_left[:, 1]
    return base[:, None, None] + offsets[None, :, None] * width + offsets[None, None, :]


def _paste(canvas: np.ndarray, pieces: np.ndarray, top_left: np.ndarray) -> None:
    """Add ``pieces`` [N, s, s] into ``canvas`` [N, W, W] at ``top_left`` [N, 2], batched.

    Within one call each episode's target pixels are distinct, so ``+=`` never drops a sum.
    """
    idx = _square_indices(np.arange(len(canvas)), top_left, pieces.shape[1], canvas.shape[1])
    canvas.reshape(-1)[idx] += pieces


def compose_canvases(
    images: np.ndarray, draws: EpisodeDraws, config: GlimpseTaskConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(canvas, digit layer), each [N, W, W] uint8 (255 = full intensity).

    The canvas is ``clip(digit + sum of clutter pieces, 0, 255)`` (the deepmind mnist-cluttered
    rule), so clutter can only brighten digit pixels, never erase them. Sums are done in int16,
    so nothing wraps before the clip.
    """
    n, w, c = len(draws.digit), config.canvas_size, config.clutter_size
    digit_layer = np.zeros((n, w, w), dtype=np.int16)
    _paste(digit_layer, images[draws.digit], draws.position)
    canvas = digit_layer.copy()
    flat_images = images.reshape(-1)
    for piece in range(config.n_clutter):
        crop = _square_indices(
            draws.clutter_digit[:, piece], draws.clutter_crop[:, piece], c, DIGIT_SIZE
        )
        _paste(canvas, flat_images[crop], draws.clutter_position[:, piece])
    return np.minimum(canvas, 255).astype(np.uint8), digit_layer.astype(np.uint8)


class GlimpseTask:
    """N glimpse episodes advanced together with batched numpy (N = 1 for the single env)."""

    def __init__(self, config: GlimpseTaskConfig, num_episodes: int, data_dir=None) -> None:
        self.config = config
        self.num_episodes = num_episodes
        self.images, self.labels_all = load_digits(config.split, data_dir)
        if len(self.images) == 0:
            raise DataError(
                f"the {config.split!r} split of {data_dir or 'the MNIST data'} holds no images "
                "(validation takes 1/12 of each class of the training files: they need at "
                "least 12 images of a class)"
            )
        w, n, t = config.canvas_size, num_episodes, config.n_glimpses
        self.canvases = np.zeros((n, w, w), dtype=np.uint8)
        self.tables = np.zeros((n, w + 1, w + 1), dtype=np.int32)
        self.labels = np.zeros(n, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)  # glimpses taken so far
        self.path = np.zeros((n, t + 1, 2), dtype=np.float32)  # every location glimpsed
        self.predictions = np.full(n, -1, dtype=np.int64)
        self.last_glimpses = np.zeros(
            (n, config.n_scales, config.glimpse_size, config.glimpse_size), dtype=np.float32
        )

    def reset(self, rngs: Sequence[np.random.Generator], which: np.ndarray) -> dict:
        """Start new episodes in the slots ``which`` (int indices), one generator per slot."""
        draws = draw_episodes([rngs[i] for i in which], len(self.images), self.config)
        canvas, _ = compose_canvases(self.images, draws, self.config)
        self.canvases[which] = canvas
        self.tables[which] = summed_area_tables(canvas)
        self.labels[which] = self.labels_all[draws.digit]
        self.steps[which] = 1
        self.predictions[which] = -1
        self.path[which] = 0.0
        self.path[which, 0] = draws.first_location
        self._glimpse(which, draws.first_location)
        return self.observation(which)

    def step(self, which: np.ndarray, locations: np.ndarray, classes: np.ndarray):
        """Advance slots ``which`` by one action; returns (obs, reward, terminated)."""
        self.path[which, self.steps[which]] = locations
        self._glimpse(which, locations)
        terminated = self.steps[which] >= self.config.n_glimpses
        self.steps[which] += 1
        predicted = np.where(terminated, classes, -1)
        self.predictions[which] = predicted
        reward = (terminated & (predicted == self.labels[which])).astype(np.float64)
        return self.observation(which), reward, terminated

    def observation(self, which: np.ndarray) -> dict:
        last = self.path[which, self.steps[which] - 1]
        return {"glimpse": self.last_glimpses[which], "location": last.astype(np.float32)}

    def _glimpse(self, which: np.ndarray, locations: np.ndarray) -> None:
        c = self.config
        self.last_glimpses[which] = extract_glimpses(
            self.tables,
            np.asarray(locations, dtype=np.float64),
            c.glimpse_size,
            c.n_scales,
            c.scale,
            episodes=which,
        )


def parse_action(action, num_envs: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(locations [N, 2] float64, classes [N] int64) from a ``{"location", "class"}`` action.

    ``num_envs=None`` means a single env's unbatched action.
    """
    if not isinstance(action, Mapping) or set(action) != {"location", "class"}:
        got = sorted(action) if isinstance(action, Mapping) else type(action).__name__
        raise ValueError(f"action must be a dict with keys 'location' and 'class', got {got}")
    location = np.asarray(action["location"], dtype=np.float64)
    classes = np.asarray(action["class"])
    loc_shape = (2,) if num_envs is None else (num_envs, 2)
    cls_shape = () if num_envs is None else (num_envs,)
    if location.shape != loc_shape:
        raise ValueError(f"action['location'] has shape {location.shape}, expected {loc_shape}")
    if not np.all(np.isfinite(location)):
        raise ValueError(f"action['location'] contains NaN or inf: {location.tolist()}")
    if np.any(np.abs(location) > 1.0):
        raise ValueError(f"action['location'] is outside [-1, 1]: {location.tolist()}")
    if classes.shape != cls_shape:
        raise ValueError(f"action['class'] has shape {classes.shape}, expected {cls_shape}")
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"action['class'] must be an integer class, got dtype {classes.dtype}")
    if np.any((classes < 0) | (classes >= N_CLASSES)):
        raise ValueError(f"action['class'] must be in [0, {N_CLASSES}), got {classes.tolist()}")
    return location.reshape(-1, 2), classes.reshape(-1).astype(np.int64)
