"""dm_control tasks from pixels, through shimmy (optional ``[mujoco]`` extra).

``gym.make("rpgssm/cartpole-swingup-v0", size=64, distractor="video")``: the task rendered by
MuJoCo at the target size directly (``render_kwargs`` height/width, camera 0), with shadows and
multisampling switched off (they cost about 4x on a CPU renderer), ``MUJOCO_GL=egl`` unless set,
and the background (skybox and floor) found by MuJoCo's segmentation render.
``info["state"]`` is ``physics.get_state()``.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from rpgssm_env.wrappers.pixels import parse_size, pixel_wrappers

__all__ = ["MUJOCO_HINT", "make_dm_control_env"]

MUJOCO_HINT = 'the dm_control envs need the optional MuJoCo extra: pip install "rpgssm-env[mujoco]"'


def make_dm_control_env(
    task: str,
    size: int | tuple[int, int] = 64,
    grayscale: bool = False,
    distractor: Any = None,
    distractor_mode: str | None = None,
    mask: Any = "segmentation",
    camera_id: int = 0,
    render_mode: str | None = "rgb_array",
    **env_kwargs: Any,
) -> gym.Env:
    """A dm_control ``domain-task`` (e.g. ``"cartpole-swingup"``) as a pixel env.

    Args: as :func:`rpgssm_env.envs.factories.make_pixel_env`, plus ``task`` and ``camera_id``.

    Raises:
        ImportError: shimmy / dm_control / mujoco are not installed (names the extra).
    """
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"only render_mode='rgb_array' is supported, got {render_mode!r}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import dm_control  # noqa: F401
        import mujoco  # noqa: F401
        import shimmy  # noqa: F401  (registers the dm_control/... ids)
    except ImportError as e:
        raise ImportError(f"{MUJOCO_HINT} ({e})") from e
    h, w = parse_size(size)
    env = gym.make(
        f"dm_control/{task}-v0",
        render_mode="rgb_array",
        render_kwargs={"height": h, "width": w, "camera_id": camera_id},
        max_episode_steps=-1,
        disable_env_checker=True,
        **env_kwargs,
    )
    physics = env.unwrapped._env.physics
    physics.model.vis.quality.shadowsize = 0
    physics.model.vis.quality.offsamples = 0
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
    )
