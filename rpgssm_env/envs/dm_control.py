"""dm_control tasks from pixels, through shimmy (optional ``[mujoco]`` extra).

``gym.make("rpgssm/cartpole-swingup-v0", size=64, distractor="video")``: the task rendered by
MuJoCo at the target size directly (``render_kwargs`` height/width, camera 0), with shadows and
multisampling switched off (on a CPU renderer they make a 64x64 walker frame about 6x slower,
37 ms instead of 6 ms, and add little at that size), and the background (skybox and floor,
with the floor's reflections) found by MuJoCo's segmentation render
(:class:`~rpgssm_env.wrappers.distractors.masks.SegmentationMask`). ``info["state"]`` is the
task's physical state ``(qpos, qvel)``, see :mod:`rpgssm_env.envs.states`.

Headless OpenGL: MuJoCo renders off-screen through the backend named by ``MUJOCO_GL``. A value
set by the user is kept; otherwise :func:`select_mujoco_gl` picks ``egl`` when an EGL library
loads and offers a device (a GPU driver, or Mesa's software device), else ``osmesa`` (CPU
rendering, Debian/Ubuntu: ``apt-get install libosmesa6``). dm_control reads it when its
renderer is first imported, which this factory does after choosing (``mujoco.Renderer`` reads it
when ``mujoco`` is first imported).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rpgssm_env.wrappers.pixels import parse_size, pixel_wrappers

__all__ = ["MUJOCO_HINT", "OPENGL_HINT", "make_dm_control_env", "select_mujoco_gl"]

MUJOCO_HINT = 'the dm_control envs need the optional MuJoCo extra: pip install "rpgssm-env[mujoco]"'
OPENGL_HINT = (
    "MuJoCo found no headless OpenGL: install OSMesa for CPU rendering (Debian/Ubuntu: "
    "apt-get install libosmesa6), or EGL with a GPU driver, or set MUJOCO_GL yourself"
)


def _load(name: str, fallback: str) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library(name) or fallback)
    except OSError:
        return None


def _egl_has_device() -> bool:
    """Whether libEGL loads and ``eglQueryDevicesEXT`` lists at least one device."""
    lib = _load("EGL", "libEGL.so.1")
    if lib is None:
        return False
    try:
        get_proc = lib.eglGetProcAddress
    except AttributeError:
        return False
    get_proc.restype = ctypes.c_void_p
    get_proc.argtypes = [ctypes.c_char_p]
    address = get_proc(b"eglQueryDevicesEXT")
    if not address:
        return False
    query = ctypes.CFUNCTYPE(
        ctypes.c_uint, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)
    )(address)
    count = ctypes.c_int(0)
    return bool(query(0, None, ctypes.byref(count))) and count.value > 0


def select_mujoco_gl() -> str:
    """Set ``MUJOCO_GL`` (unless the user did) and return it.

    ``egl`` when an EGL library loads and has a device, else ``osmesa`` when libOSMesa loads.

    Raises:
        RuntimeError: neither loads (the message says what to install).
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    if _egl_has_device():
        chosen = "egl"
    elif _load("OSMesa", "libOSMesa.so.8") is not None:
        chosen = "osmesa"
    else:
        raise RuntimeError(OPENGL_HINT)
    os.environ["MUJOCO_GL"] = chosen
    return chosen


def _render_settings(physics: Any, height: int, width: int) -> None:
    """Shadows and multisampling off; the off-screen buffer at least ``height x width``.

    Takes effect at the first render (dm_control makes its OpenGL context then).
    """
    quality = physics.model.vis.quality
    quality.shadowsize = 0  # no shadow map: no shadow pass
    quality.offsamples = 0  # no multisampling of the off-screen buffer
    glob = physics.model.vis.global_
    glob.offwidth = max(int(glob.offwidth), width)
    glob.offheight = max(int(glob.offheight), height)


def _as_float64(action: np.ndarray) -> np.ndarray:
    return np.asarray(action, dtype=np.float64)


def make_dm_control_env(
    task: str,
    size: int | tuple[int, int] = 64,
    grayscale: bool = False,
    distractor: Any = None,
    distractor_mode: str | None = None,
    mask: Any = "segmentation",
    state_fn: Callable[[gym.Env], np.ndarray] | None = None,
    camera_id: int = 0,
    render_mode: str | None = "rgb_array",
    **env_kwargs: Any,
) -> gym.Env:
    """A dm_control ``domain-task`` (e.g. ``"cartpole-swingup"``) as a pixel env.

    Args: as :func:`rpgssm_env.envs.factories.make_pixel_env` (``mask`` defaults to
    ``"segmentation"``), plus ``task`` and ``camera_id``; ``env_kwargs`` go to shimmy's suite
    loader (``task_kwargs``, ``environment_kwargs``, ``visualize_reward``).

    Raises:
        ImportError: shimmy / dm_control / mujoco are not installed (names the extra).
        RuntimeError: no headless OpenGL (names what to install).
    """
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"only render_mode='rgb_array' is supported, got {render_mode!r}")
    h, w = parse_size(size)
    try:
        import dm_control  # noqa: F401  (the package alone: no OpenGL yet)
    except ImportError as e:
        raise ImportError(f"{MUJOCO_HINT} ({e})") from e
    select_mujoco_gl()
    try:
        import mujoco  # noqa: F401
        import shimmy  # noqa: F401  (registers the dm_control/... ids)
    except ImportError as e:
        raise ImportError(f"{MUJOCO_HINT} ({e})") from e
    env = gym.make(
        f"dm_control/{task}-v0",
        render_mode="rgb_array",
        render_kwargs={"height": h, "width": w, "camera_id": camera_id},
        max_episode_steps=-1,
        disable_env_checker=True,
        **env_kwargs,
    )
    _render_settings(env.unwrapped._env.physics, h, w)
    space = env.action_space  # float64 from dm_control: offer float32, as the classic envs do
    env = gym.wrappers.TransformAction(
        env,
        _as_float64,
        gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32), space.shape),
    )
    if mask == "segmentation":
        from rpgssm_env.wrappers.distractors.masks import SegmentationMask

        mask = SegmentationMask(camera=camera_id)
    return pixel_wrappers(
        env,
        size=(h, w),
        grayscale=grayscale,
        distractor=distractor,
        distractor_mode=distractor_mode,
        mask=mask,
        state_fn=state_fn,
    )
