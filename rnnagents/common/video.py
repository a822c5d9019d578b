"""Turn agent frames into files people can play, and into on-screen playback when possible.

Frames are uint8 ``H x W x 3`` RGB arrays throughout (what Gymnasium's ``rgb_array`` renders).
MP4 files use H.264 with the yuv420p pixel format because that is what browsers, W&B and
QuickTime actually play; yuv420p needs even sizes, so odd frames are padded by one pixel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rnnagents.common.files import atomic_path, atomic_write_bytes

VIDEO_SUFFIXES = (".mp4", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_QUIT_KEYS = (ord("q"), 27)  # q or Esc stops playback early


def write_video(
    frames: Sequence[np.ndarray] | np.ndarray, path: str | os.PathLike, fps: int = 4
) -> Path:
    """Encode ``frames`` to ``path`` (.mp4 or .gif) and return the path.

    The file is written under a temporary name in the same directory and renamed at the end, so
    a reader (or a crash) never sees a half-written video under the final name.

    Frames go straight to the encoders, one written frame per input frame. (moviepy's
    ``ImageSequenceClip`` resamples by time and, through float rounding, drops the last frame at
    e.g. fps 3, 7, 15 or 30.)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"unsupported video extension {path.suffix!r} in {path}; use .mp4 or .gif")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = _checked_frames(frames)
    with atomic_path(path, suffix=suffix) as tmp_name:
        if suffix == ".mp4":
            _write_mp4(frames, tmp_name, fps)
        else:
            _write_gif(frames, tmp_name, fps)
    return path


def write_image(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write one RGB image to ``path`` (.png or .jpg), atomically like ``write_video``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"unsupported image extension {path.suffix!r} in {path}; use .png or .jpg")
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(_checked_frame(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV could not encode an image as {suffix}")
    atomic_write_bytes(path, encoded.tobytes())
    return path


def _write_mp4(frames: list[np.ndarray], path: str, fps: int) -> None:
    """H.264/yuv420p through imageio-ffmpeg, the ffmpeg binary moviepy itself depends on."""
    import imageio_ffmpeg  # imported here: only video writing needs the ffmpeg binary

    frames = [_pad_to_even(frame) for frame in frames]
    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        path,
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        macro_block_size=1,  # sizes are already even; the default 16 would rescale
        ffmpeg_log_level="error",
    )
    writer.send(None)  # starts ffmpeg
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    # imageio-ffmpeg does not check ffmpeg's exit status; decoding the result does.
    written = count_frames(path)
    if written != len(frames):
        raise RuntimeError(f"ffmpeg wrote {written} of {len(frames)} frames to {path}")


def _write_gif(frames: list[np.ndarray], path: str, fps: int) -> None:
    from PIL import Image

    first, *rest = (Image.fromarray(frame) for frame in frames)
    first.save(path, save_all=True, append_images=rest, duration=1000 / fps, loop=0)


def count_frames(path: str | os.PathLike) -> int:
    """Decode every frame of a video file and return how many there were.

    Decoding (rather than reading a header field) is the point: it shows the file is playable and
    complete. GIF writers may merge identical consecutive frames, so a GIF of a static scene can
    count fewer frames than were written.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image, ImageSequence

        count = 0
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                frame.load()
                count += 1
        return count
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ValueError(f"cannot open video {path}")
        count = 0
        while capture.read()[0]:
            count += 1
        return count
    finally:
        capture.release()


def show_frames(frames: Sequence[np.ndarray] | np.ndarray, fps: int = 4) -> bool:
    """Play frames in an OpenCV window; return False (doing nothing) when there is no display.

    Lets ``watch``-style commands show episodes live on a desktop and fall back to writing a file
    on headless machines, where opening a window would crash.
    """
    if not has_display():
        return False
    frames = _checked_frames(frames)
    window = "rnnagents"
    delay_ms = max(1, round(1000 / fps))
    try:
        for frame in frames:
            cv2.imshow(window, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if (cv2.waitKey(delay_ms) & 0xFF) in _QUIT_KEYS:
                break
        cv2.destroyWindow(window)
    except cv2.error:  # OpenCV built without GUI support
        return False
    return True


def upscaled_rgb(chw: np.ndarray, upscale: int) -> np.ndarray:
    """A float ``[3, H, W]`` image in [0, 1] (what a VAE decodes) as uint8 RGB, ``upscale`` x
    larger in each direction, pixels kept sharp."""
    image = (np.clip(np.moveaxis(chw, 0, -1), 0, 1) * 255).astype(np.uint8)
    return np.kron(image, np.ones((upscale, upscale, 1), dtype=np.uint8))


def has_display() -> bool:
    """Whether a window can be opened here (an X11 or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def tile_frames(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Compose RGB panels into one image: each inner list is a row, placed left to right.

    Panels in a row are padded (black, at the bottom) to the tallest one and rows are padded (at
    the right) to the widest, so panels of different sizes, e.g. "canvas | glimpse" or
    "real | reconstruction | dream", can share one frame.
    """
    if not rows or not all(rows):
        raise ValueError("tile_frames needs at least one panel in every row")
    row_images = []
    for row in rows:
        panels = [_checked_frame(panel) for panel in row]
        height = max(panel.shape[0] for panel in panels)
        row_images.append(np.hstack([_pad(panel, height, panel.shape[1]) for panel in panels]))
    width = max(image.shape[1] for image in row_images)
    return np.vstack([_pad(image, image.shape[0], width) for image in row_images])


def _checked_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"frames must be uint8 HxWx3 RGB arrays, got dtype {frame.dtype} shape {frame.shape}"
        )
    return frame


def _checked_frames(frames: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    checked = [_checked_frame(frame) for frame in frames]
    if not checked:
        raise ValueError("no frames to write")
    shapes = {frame.shape for frame in checked}
    if len(shapes) > 1:
        raise ValueError(f"all frames must have the same shape, got {sorted(shapes)}")
    return checked


def _pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad with black at the bottom and right up to ``height`` x ``width``."""
    extra_h, extra_w = height - image.shape[0], width - image.shape[1]
    return np.pad(image, ((0, extra_h), (0, extra_w), (0, 0)))


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    return _pad(frame, height + height % 2, width + width % 2)
