"""Background sources, masks, compositing and the BackgroundDistractor wrapper."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest

import rpgssm_env  # noqa: F401  (registers the ids)
from rpgssm_env.wrappers.distractors import (
    ArraySource,
    BackgroundDistractor,
    ColourKeyMask,
    ImageSource,
    IteratorSource,
    NoiseSource,
    PendulumSource,
    ShapesSource,
    VideoSource,
    bundled_image_paths,
    bundled_video_paths,
    check_frame,
    composite,
    make_source,
)

NAMES = ["images", "video", "shapes", "noise", "pendulum", "colour", "camera"]
PRESETS = ["easy", "medium", "hard"]
SHAPE = (32, 40)


def frames_of(source, seed: int, n: int = 6, shape=SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = [source.reset(rng, shape).copy()]
    frames += [source.step(rng).copy() for _ in range(n - 1)]
    return np.stack(frames)


def test_bundled_media_found_without_download():
    images = bundled_image_paths()
    assert len(images) >= 15
    assert all(p.is_file() for p in images)
    src = ImageSource()
    assert len(src.bank((24, 24))) == 2 * len(images)  # flips double it: ~40 backgrounds
    videos = bundled_video_paths()
    assert len(videos) >= 2
    assert all(p.suffix == ".mp4" for p in videos)


@pytest.mark.parametrize("name", NAMES + PRESETS)
def test_named_sources_give_seeded_uint8_frames(name):
    a = frames_of(make_source(name), seed=1)
    b = frames_of(make_source(name), seed=1)
    c = frames_of(make_source(name), seed=2)
    assert a.shape == (6, *SHAPE, 3)
    assert a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "factory", [ImageSource, VideoSource, ShapesSource, NoiseSource, PendulumSource]
)
def test_modes(factory):
    fixed = frames_of(factory(mode="fixed"), seed=0)
    assert all(np.array_equal(f, fixed[0]) for f in fixed)
    step = frames_of(factory(mode="step"), seed=0)
    assert all(not np.array_equal(step[i], step[i + 1]) for i in range(len(step) - 1))
    video = frames_of(factory(mode="video"), seed=0).astype(np.float32)
    assert not np.array_equal(video[0], video[-1])
    # continuous in time: consecutive frames are closer than independent ones
    assert (
        np.abs(np.diff(video, axis=0)).mean()
        < np.abs(step.astype(np.float32)[1:] - step[:-1]).mean()
    )


def test_video_mode_plays_consecutive_decoded_frames():
    src = VideoSource(mode="video")
    rng = np.random.default_rng(0)
    first = src.reset(rng, SHAPE)
    clip, t = src._clips[src._clip], src._t
    np.testing.assert_array_equal(first, clip[t])
    for k in range(1, 4):
        np.testing.assert_array_equal(src.step(rng), clip[(t + k) % len(clip)])


def test_user_sources():
    rng = np.random.default_rng(0)
    calls = make_source(lambda r: r.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    assert calls.reset(rng, SHAPE).shape == (*SHAPE, 3)  # resized
    grey_float = make_source(lambda r: np.full(SHAPE, 0.5))
    assert grey_float.reset(rng, SHAPE)[0, 0].tolist() == [128, 128, 128]
    bank = np.random.default_rng(1).integers(0, 256, (5, *SHAPE, 3), dtype=np.uint8)
    arr = make_source(bank, mode="video")
    assert isinstance(arr, ArraySource)
    f0 = arr.reset(rng, SHAPE)
    i = next(k for k in range(5) if np.array_equal(bank[k], f0))
    np.testing.assert_array_equal(arr.step(rng), bank[(i + 1) % 5])
    it = make_source(iter(bank[:2]))
    assert isinstance(it, IteratorSource)
    it.reset(rng, SHAPE)
    it.step(rng)
    with pytest.raises(ValueError, match="exhausted"):
        it.step(rng)

    class Duck:
        def reset(self, rng, shape):
            return np.zeros((*shape, 3), np.uint8)

        def step(self, rng):
            return np.zeros((3, 4, 5), np.uint8)  # wrong: 5 channels

    duck = make_source(Duck())
    assert duck.reset(rng, SHAPE).shape == (*SHAPE, 3)
    with pytest.raises(ValueError, match=r"shape \(3, 4, 5\)"):
        duck.step(rng)
    with pytest.raises(TypeError, match="cannot use"):
        make_source(42)


def test_wrong_frame_from_user_source_in_env():
    env = gym.make("rpgssm/Pendulum-v0", size=24, distractor=lambda r: np.zeros((5,), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        env.reset(seed=0)


def test_check_frame_rejects_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        check_frame(np.full((4, 4, 3), -5, np.int16), (4, 4))


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        make_source(str(tmp_path / "missing.mp4"))
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="cannot read video file"):
        make_source(str(bad))
    with pytest.raises(ValueError, match="cannot read video file"):
        gym.make("rpgssm/Pendulum-v0", size=24, distractor=str(bad))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty"):
        make_source(empty)
    with pytest.raises(ValueError, match="unknown distractor"):
        make_source("fog")
    with pytest.raises(ValueError, match="preset"):
        make_source("hard", mode="step")
    with pytest.raises(ValueError, match="mode"):
        make_source("images", mode="sometimes")


def test_user_folder_and_video_file(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in bundled_image_paths()[:3]:
        shutil.copy(p, folder / p.name)
    src = make_source(str(folder), mode="step")
    assert isinstance(src, ImageSource)
    assert len(src.paths) == 3
    video = tmp_path / "clip.mp4"
    shutil.copy(bundled_video_paths()[-1], video)
    vid = make_source(str(video))
    assert isinstance(vid, VideoSource)
    assert frames_of(vid, 0, n=3).shape == (3, *SHAPE, 3)


def test_colour_key_mask_and_composite():
    frame = np.full((4, 4, 3), 255, np.uint8)
    frame[1, 2] = (204, 77, 77)
    frame[0, 0] = (250, 250, 250)  # near white: background
    fg = ColourKeyMask()(frame)
    assert fg.sum() == 1
    assert fg[1, 2]
    bg = np.zeros_like(frame)
    out = composite(frame, bg, fg)
    assert out[1, 2].tolist() == [204, 77, 77]
    assert out.sum() == 204 + 77 + 77


@pytest.mark.parametrize("distractor", ["images", "video", "noise", "pendulum", "hard"])
def test_system_pixels_unchanged(distractor):
    clean = gym.make("rpgssm/Pendulum-v0", size=64)
    noisy = gym.make("rpgssm/Pendulum-v0", size=64, distractor=distractor)
    mask_fn = ColourKeyMask()
    a, _ = clean.reset(seed=5)
    b, _ = noisy.reset(seed=5)
    clean.action_space.seed(5)
    for t in range(8):
        fg = mask_fn(a)
        assert fg.sum() > 20  # the pendulum is there
        np.testing.assert_array_equal(b[fg], a[fg])
        assert (b[~fg] != a[~fg]).any(axis=-1).mean() > 0.5  # background replaced
        wrapper = noisy.env.env.env  # TimeLimit > OrderEnforcing > PassiveEnvChecker > ours
        assert isinstance(wrapper, BackgroundDistractor)
        np.testing.assert_array_equal(wrapper.last_foreground, fg)
        np.testing.assert_array_equal(noisy.render(), b)
        u = clean.action_space.sample()
        a, *_ = clean.step(u)
        b, *_ = noisy.step(u)
        assert t >= 0


def test_user_mask_function_and_grayscale():
    def left_half(frame):
        m = np.zeros(frame.shape[:2], bool)
        m[:, : frame.shape[1] // 2] = True
        return m

    clean = gym.make("rpgssm/CartPole-v0", size=32, grayscale=True)
    env = gym.make(
        "rpgssm/CartPole-v0", size=32, grayscale=True, distractor="noise", mask=left_half
    )
    a, _ = clean.reset(seed=0)
    b, _ = env.reset(seed=0)
    assert b.shape == (32, 32, 1)
    assert env.observation_space == gym.spaces.Box(0, 255, (32, 32, 1), np.uint8)
    np.testing.assert_array_equal(a[:, :16], b[:, :16])
    assert not np.array_equal(a[:, 16:], b[:, 16:])
    assert env.render().shape == (32, 32, 3)


def test_wrapper_rejects_non_frame_observations():
    with pytest.raises(ValueError, match="uint8 frame"):
        BackgroundDistractor(gym.make("Pendulum-v1"), "noise")


@pytest.mark.parametrize(("mode", "changes"), [("step", True), ("video", False), ("fixed", False)])
def test_shapes_base_colour_follows_the_mode(mode, changes):
    # in "step" mode nothing of the background may persist through an episode (a kept colour
    # identifies the episode to the contrastive objective)
    from rpgssm_env.wrappers.distractors.procedural import ShapesSource

    src = ShapesSource()
    src.mode = mode  # as ``distractor_mode=`` sets it, after construction
    rng = np.random.default_rng(0)
    frames = [src.reset(rng, (32, 32))] + [src.step(rng) for _ in range(4)]

    def base_colour(frame):
        colours, counts = np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)
        return tuple(colours[counts.argmax()])

    distinct = {base_colour(f) for f in frames}
    assert (len(distinct) == len(frames)) if changes else (len(distinct) == 1)


@pytest.mark.parametrize(("mode", "moves"), [("step", True), ("video", False), ("fixed", False)])
def test_second_pendulum_pivot_follows_the_mode(mode, moves):
    # in "step" mode the pivot and rod length are redrawn with the angle (a pivot kept for the
    # episode identifies it to the contrastive objective); otherwise they stay put
    from rpgssm_env.wrappers.distractors.procedural import PendulumSource

    src = PendulumSource()
    src.mode = mode
    rng = np.random.default_rng(0)
    frames = [src.reset(rng, (48, 48))] + [src.step(rng) for _ in range(4)]

    def pivot(frame):  # the black hub drawn at the pivot
        ys, xs = np.nonzero(frame.sum(axis=2) < 60)
        return round(ys.mean()), round(xs.mean())

    pivots = {pivot(f) for f in frames}
    assert (len(pivots) == len(frames)) if moves else (len(pivots) == 1)
