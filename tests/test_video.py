"""Videos: playable, complete files; headless-safe display; panel tiling."""

from __future__ import annotations

import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from rnnagents.common import video
from rnnagents.common.video import count_frames, show_frames, tile_frames, write_video


def _frames(n: int = 7, height: int = 32, width: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
@pytest.mark.parametrize("size", [(32, 48), (33, 45)], ids=["even", "odd"])
@pytest.mark.parametrize("fps", [3, 4, 30])
def test_round_trip_keeps_every_frame(tmp_path, suffix, size, fps):
    path = write_video(list(_frames(7, *size)), tmp_path / f"episode{suffix}", fps=fps)
    assert path == tmp_path / f"episode{suffix}"
    assert count_frames(path) == 7
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_mp4_is_h264_yuv420p_padded_to_even_size(tmp_path):
    path = write_video(_frames(3, 33, 45), tmp_path / "odd.mp4")
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
    ).stderr
    assert "h264" in probe and "yuv420p" in probe and "46x34" in probe


def test_mp4_keeps_colours_in_rgb_order(tmp_path):
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[:, :16] = (255, 0, 0)  # red left half
    frame[:, 16:] = (0, 0, 255)  # blue right half
    path = write_video([frame] * 3, tmp_path / "colours.mp4")

    capture = cv2.VideoCapture(str(path))
    ok, decoded_bgr = capture.read()
    capture.release()
    assert ok
    decoded = cv2.cvtColor(decoded_bgr, cv2.COLOR_BGR2RGB).astype(int)
    assert np.abs(decoded[:, 2:14] - frame[:, 2:14]).mean() < 10
    assert np.abs(decoded[:, 18:30] - frame[:, 18:30]).mean() < 10


@pytest.mark.parametrize(
    ("frames", "name", "message"),
    [
        (_frames(), "episode.avi", r"\.avi"),
        ([], "episode.mp4", "no frames"),
        ([_frames(1)[0], _frames(1, 16, 16)[0]], "episode.mp4", "same shape"),
        (_frames().astype(np.float32), "episode.gif", "uint8"),
        (_frames()[..., 0], "episode.gif", "HxWx3"),
    ],
    ids=["extension", "empty", "shapes", "dtype", "grayscale"],
)
def test_bad_input_raises_value_error_and_writes_nothing(tmp_path, frames, name, message):
    with pytest.raises(ValueError, match=message):
        write_video(frames, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_video_and_no_temp_file(tmp_path, monkeypatch):
    path = write_video(_frames(), tmp_path / "episode.gif")
    old_bytes = path.read_bytes()

    def crash(frames, tmp_name, fps):
        with open(tmp_name, "wb") as file:
            file.write(b"GIF89a half a video")
        raise KeyboardInterrupt

    monkeypatch.setattr(video, "_write_gif", crash)
    with pytest.raises(KeyboardInterrupt):
        write_video(_frames(seed=1), path)
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["episode.gif"]


def test_count_frames_rejects_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        count_frames(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="cannot open"):
        count_frames(garbage)


def _forbid(*args):
    raise AssertionError("OpenCV GUI used without a display")


def test_show_frames_without_display_returns_false_and_opens_no_window(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(cv2, "imshow", _forbid)
    assert show_frames(_frames(), fps=4) is False


def test_show_frames_plays_bgr_frames_and_stops_on_q(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    shown, keys = [], iter([-1, ord("q"), -1])
    monkeypatch.setattr(cv2, "imshow", lambda window, image: shown.append(image))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(cv2, "destroyWindow", lambda window: None)
    frames = _frames(5)

    assert show_frames(frames, fps=4) is True
    assert len(shown) == 2  # 'q' after the second frame stops playback
    np.testing.assert_array_equal(shown[0], frames[0][..., ::-1])


def test_show_frames_without_gui_support_returns_false(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")

    def no_gui(window, image):
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(cv2, "imshow", no_gui)
    assert show_frames(_frames(), fps=4) is False


def _panel(height: int, width: int, colour: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def test_tile_frames_places_panels_and_pads_with_black():
    red = _panel(4, 5, (255, 0, 0))
    green = _panel(2, 3, (0, 255, 0))
    blue = _panel(3, 10, (0, 0, 255))

    tiled = tile_frames([[red, green], [blue]])

    assert tiled.shape == (7, 10, 3) and tiled.dtype == np.uint8
    np.testing.assert_array_equal(tiled[:4, :5], red)
    np.testing.assert_array_equal(tiled[:2, 5:8], green)
    np.testing.assert_array_equal(tiled[4:, :], blue)
    assert not tiled[2:4, 5:8].any()  # below the short green panel
    assert not tiled[:4, 8:].any()  # right of the narrower first row


@pytest.mark.parametrize("rows", [[], [[]], [[np.zeros((4, 4), np.uint8)]]])
def test_tile_frames_rejects_empty_rows_and_non_rgb_panels(rows):
    with pytest.raises(ValueError):
        tile_frames(rows)
