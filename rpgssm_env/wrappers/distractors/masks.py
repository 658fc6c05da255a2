"""Foreground masks and compositing: which pixels belong to the system (kept exactly).

A mask function maps a frame ``(H, W, 3)`` uint8 to a boolean foreground mask ``(H, W)``
(``True`` = system pixel, kept; ``False`` = background, replaced by the distractor).

* :class:`ColourKeyMask`: background where the pixel is (near) a key colour: classic-control
  renders draw the system on white.
* :class:`SegmentationMask`: MuJoCo's segmentation render (dm_control via shimmy, or Gymnasium
  MuJoCo envs): background where no geom is hit (skybox) or the geom is the floor/ground.
* any user function ``frame -> mask``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["ColourKeyMask", "MaskFn", "SegmentationMask", "check_mask", "composite"]

MaskFn = Callable[[np.ndarray], np.ndarray]


class ColourKeyMask:
    """Foreground = pixels farther than ``tolerance`` (per channel) from the ``key`` colour.

    Args:
        key: background RGB colour (white for classic-control renders).
        tolerance: max per-channel difference still counted as background. The default keeps
            anti-aliased edge pixels (blended with white) out of the background only when they
            are clearly tinted.
    """

    def __init__(self, key: Sequence[int] = (255, 255, 255), tolerance: int = 24) -> None:
        self.key = tuple(int(k) for k in key)
        self.tolerance = int(tolerance)
        self._lo = np.array([max(0, k - self.tolerance) for k in self.key], np.uint8)
        self._hi = np.array([min(255, k + self.tolerance) for k in self.key], np.uint8)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return cv2.inRange(frame, self._lo, self._hi) == 0

    def __repr__(self) -> str:
        return f"ColourKeyMask(key={self.key}, tolerance={self.tolerance})"


class SegmentationMask:
    """Foreground from MuJoCo's segmentation render, at the frame's size.

    Works with dm_control environments (through shimmy: ``env.unwrapped._env.physics``, or any
    object with a dm_control ``physics``) and Gymnasium MuJoCo envs (``env.unwrapped.model`` and
    ``.data``). Background = pixels where no object is hit (the skybox, segmentation id ``-1``)
    and pixels of geoms named in ``background_geoms`` (or whose name starts with one of them):
    ``floor`` (cartpole, walker), ``ground`` (cheetah). The floor's reflections of the body are
    floor pixels, hence background; every other geom, site or tendon hit is the system.

    The segmentation is rendered by the same camera at the same size as the frame, so the mask
    is pixel-aligned with it (one extra, cheap render per step: no lighting, no textures).
    Call :meth:`bind` with the env before use (the distractor wrapper does it). For Gymnasium
    MuJoCo envs, set ``MUJOCO_GL`` (``egl`` or ``osmesa`` headless) before ``mujoco`` is first
    imported: its ``Renderer`` keeps the OpenGL backend chosen then.
    """

    def __init__(
        self,
        background_geoms: Sequence[str] = ("floor", "ground", "skybox"),
        camera: int | str = 0,
    ) -> None:
        self.background_geoms = tuple(background_geoms)
        self.camera = camera
        self._physics: Any = None
        self._model: Any = None
        self._data: Any = None
        self._renderer: Any = None
        self._bg_ids: np.ndarray = np.zeros(0, np.int32)
        self._geom_type = 5  # mujoco.mjtObj.mjOBJ_GEOM, re-read in bind()

    def bind(self, env: Any) -> SegmentationMask:
        """Attach to the MuJoCo model of ``env`` (a Gymnasium env, possibly wrapped)."""
        from rpgssm_env.envs.dm_control import select_mujoco_gl

        select_mujoco_gl()  # before mujoco's first import: it fixes the OpenGL backend
        import mujoco  # optional dependency: pip install "rpgssm-env[mujoco]"

        base = getattr(env, "unwrapped", env)
        physics = getattr(getattr(base, "_env", None), "physics", None)
        if physics is None:
            physics = getattr(base, "physics", None)
        if physics is not None:
            self._physics = physics
            model = physics.model.ptr
        elif hasattr(base, "model") and hasattr(base, "data"):
            self._model, self._data = base.model, base.data
            model = base.model
        else:
            raise ValueError(
                f"SegmentationMask needs a dm_control or Gymnasium MuJoCo env, got {base!r}"
            )
        ids = []
        for i in range(model.ngeom):
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, i) or ""
            if any(name.startswith(b) for b in self.background_geoms):
                ids.append(i)
        self._bg_ids = np.array(ids, np.int32)
        self._geom_type = int(mujoco.mjtObj.mjOBJ_GEOM)
        return self

    def segmentation(self, height: int, width: int) -> np.ndarray:
        """``(H, W, 2)`` int32: object id and object type per pixel (id ``-1``: nothing)."""
        if self._physics is not None:
            return self._physics.render(
                height=height, width=width, camera_id=self.camera, segmentation=True
            )
        if self._model is None:
            raise RuntimeError("SegmentationMask.bind(env) was not called")
        import mujoco

        if self._renderer is None or (self._renderer.height, self._renderer.width) != (
            height,
            width,
        ):
            self.close()
            self._renderer = mujoco.Renderer(self._model, height, width)
            self._renderer.enable_segmentation_rendering()
        self._renderer.update_scene(self._data, camera=self.camera)
        return self._renderer.render()

    def foreground(self, segmentation: np.ndarray) -> np.ndarray:
        """``(H, W)`` bool system mask of a ``(H, W, 2)`` segmentation (id, type) image."""
        seg = np.asarray(segmentation)
        ids, types = seg[..., 0], seg[..., 1]
        background = (ids < 0) | ((types == self._geom_type) & np.isin(ids, self._bg_ids))
        return ~background

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.foreground(self.segmentation(frame.shape[0], frame.shape[1]))

    def close(self) -> None:
        """Free the Gymnasium-MuJoCo renderer (dm_control's physics owns its own)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _key(self) -> tuple[Any, ...]:
        return (self.background_geoms, self.camera)

    def __eq__(self, other: object) -> bool:
        # by configuration, so a re-made env's spec (gym.make(env.spec)) equals the original's
        return isinstance(other, SegmentationMask) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"SegmentationMask(background_geoms={self.background_geoms}, camera={self.camera!r})"


def check_mask(mask: Any, shape: tuple[int, int], where: str = "mask function") -> np.ndarray:
    """Validate a foreground mask: ``(H, W)`` (or ``(H, W, 1)``) of bools or 0/1 values."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != tuple(shape):
        raise ValueError(f"{where} returned a mask of shape {m.shape}; expected {tuple(shape)}")
    return m.astype(bool, copy=False)


def composite(frame: np.ndarray, background: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """``frame`` where ``foreground`` is True, ``background`` elsewhere: ``(H, W, 3)`` uint8.

    Args:
        frame: the system's render ``(H, W, 3)`` uint8.
        background: the distractor ``(H, W, 3)`` uint8.
        foreground: ``(H, W)`` bool.
    """
    out = np.array(background, dtype=np.uint8, copy=True)
    out[foreground] = frame[foreground]
    return out
