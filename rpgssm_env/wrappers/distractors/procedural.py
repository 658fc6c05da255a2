"""Procedural backgrounds drawn at the target size: moving shapes, noise, a second pendulum.

Shapes and the pendulum can be drawn over another source (``background=``) to combine them.
"""

from __future__ import annotations

import cv2
import numpy as np

from rpgssm_env.wrappers.distractors.base import Shape, Source

__all__ = ["NoiseSource", "PendulumSource", "ShapesSource", "SolidSource"]


class SolidSource(Source):
    """A plain colour per episode (random unless ``colour`` is given); the base of other layers."""

    default_mode = "fixed"

    def __init__(self, colour: tuple[int, int, int] | None = None, mode: str | None = None):
        super().__init__(mode)
        self.colour = colour
        self._frame: np.ndarray | None = None
        self._shape: Shape = (0, 0)

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        c = self.colour if self.colour is not None else rng.integers(0, 256, 3)
        return np.broadcast_to(np.asarray(c, np.uint8), (*self._shape, 3))

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = tuple(shape)  # type: ignore[assignment]
        self._frame = self._draw(rng)
        return self._frame

    def step(self, rng: np.random.Generator) -> np.ndarray:
        if self.mode != "fixed":
            self._frame = self._draw(rng)
        assert self._frame is not None
        return self._frame


class _Layer(Source):
    """A source that draws over an optional ``background`` source (default: a random colour)."""

    def __init__(self, background: Source | None, mode: str | None) -> None:
        super().__init__(mode)
        self._own_background = background is None
        self.background = background if background is not None else SolidSource(mode="fixed")
        self._shape: Shape = (0, 0)

    def _reset_background(self, rng: np.random.Generator) -> np.ndarray:
        """Reset the background; the default colour is redrawn every step in ``"step"`` mode
        (a colour kept for the whole episode would identify it) and kept otherwise."""
        if self._own_background:
            self.background.mode = "step" if self.mode == "step" else "fixed"
        return self.background.reset(rng, self._shape)

    def close(self) -> None:
        self.background.close()


class ShapesSource(_Layer):
    """Coloured discs and squares moving with their own smooth dynamics.

    Each shape has a position, a velocity and an angular-free size; velocities follow a damped
    random walk (Ornstein-Uhlenbeck) and shapes bounce off the borders. Positions are in pixels at
    the target size, speeds scale with it.

    * ``"video"``: the dynamics run one step per env step (smooth motion);
    * ``"fixed"``: shapes drawn at reset and kept still for the episode;
    * ``"step"``: new random shapes every step.

    Args:
        n_shapes: ``(low, high)`` number of shapes per episode (inclusive).
        speed: typical speed, in fractions of the frame size per step.
        background: source drawn under the shapes (default: a random plain colour).
    """

    default_mode = "video"

    def __init__(
        self,
        n_shapes: tuple[int, int] = (3, 6),
        mode: str | None = None,
        *,
        speed: float = 0.03,
        background: Source | None = None,
    ) -> None:
        super().__init__(background, mode)
        self.n_shapes = n_shapes
        self.speed = float(speed)
        self._pos = np.zeros((0, 2))
        self._vel = np.zeros((0, 2))
        self._radius = np.zeros(0)
        self._colour = np.zeros((0, 3), np.uint8)
        self._square = np.zeros(0, bool)

    def _new_shapes(self, rng: np.random.Generator) -> None:
        n = int(rng.integers(self.n_shapes[0], self.n_shapes[1] + 1))
        size = np.array(self._shape, float)
        self._pos = rng.uniform(0, 1, (n, 2)) * size
        self._vel = rng.normal(0, self.speed, (n, 2)) * size
        self._radius = rng.uniform(0.06, 0.16, n) * size.min()
        self._colour = rng.integers(0, 256, (n, 3)).astype(np.uint8)
        self._square = rng.random(n) < 0.5

    def _draw(self, canvas: np.ndarray) -> np.ndarray:
        out = np.array(canvas, order="C", copy=True)
        for (y, x), r, c, sq in zip(self._pos, self._radius, self._colour, self._square):
            colour = tuple(int(v) for v in c)
            if sq:
                cv2.rectangle(out, (int(x - r), int(y - r)), (int(x + r), int(y + r)), colour, -1)
            else:
                cv2.circle(out, (int(x), int(y)), max(1, int(r)), colour, -1, cv2.LINE_AA)
        return out

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = tuple(shape)  # type: ignore[assignment]
        base = self._reset_background(rng)
        self._new_shapes(rng)
        return self._draw(base)

    def step(self, rng: np.random.Generator) -> np.ndarray:
        base = self.background.step(rng)
        if self.mode == "step":
            self._new_shapes(rng)
        elif self.mode == "video":
            size = np.array(self._shape, float)
            noise = rng.normal(0, self.speed * 0.3, self._vel.shape) * size
            self._vel = 0.95 * self._vel + noise
            pos = self._pos + self._vel
            low, high = pos < 0, pos > size
            self._vel[low | high] *= -1
            self._pos = np.clip(pos, 0, size)
        return self._draw(base)


class NoiseSource(Source):
    """Pixel noise.

    ``"step"``: fresh uniform noise every step; ``"fixed"``: one noise image per episode;
    ``"video"``: smooth noise in time (AR(1) on a coarse grid, upsampled: blobs that morph).

    Args:
        scale: coarse grid cell size in pixels for ``"video"`` mode (and ``"step"`` when > 1).
        rho: AR(1) coefficient of the ``"video"`` mode, in [0, 1).
    """

    default_mode = "step"

    def __init__(self, mode: str | None = None, *, scale: int = 1, rho: float = 0.9) -> None:
        super().__init__(mode)
        self.scale = max(1, int(scale))
        self.rho = float(rho)
        self._shape: Shape = (0, 0)
        self._state = np.zeros(0)
        self._frame: np.ndarray | None = None

    def _fresh(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self._shape
        if self.scale == 1 and self.mode != "video":
            return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        s = max(self.scale, 4) if self.mode == "video" else self.scale
        coarse = rng.integers(0, 256, (-(-h // s), -(-w // s), 3), dtype=np.uint8)
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = tuple(shape)  # type: ignore[assignment]
        self._frame = self._fresh(rng)
        self._state = self._frame.astype(np.float32)
        return self._frame

    def step(self, rng: np.random.Generator) -> np.ndarray:
        if self.mode == "step":
            self._frame = self._fresh(rng)
        elif self.mode == "video":
            a = self.rho
            # variance-preserving mix around mid-grey
            self._state = (
                127.5
                + a * (self._state - 127.5)
                + np.sqrt(1 - a * a) * (self._fresh(rng).astype(np.float32) - 127.5)
            )
            self._frame = np.clip(self._state, 0, 255).astype(np.uint8)
        assert self._frame is not None
        return self._frame


class PendulumSource(_Layer):
    """A correlated distractor: an independent second pendulum drawn in the background.

    It follows the dynamics of Gymnasium's ``Pendulum-v1`` (``g = 10``, ``m = l = 1``,
    ``dt = 0.05`` s, speed clipped to 8 rad/s) under its own random torques in [-2, 2] N m, so it
    moves like the signal does but with its own state ``(theta, omega)`` (exposed as
    :attr:`state`). It is drawn like Pendulum-v1's render (a rounded red rod on a light
    background), at a random position and scale per episode.

    * ``"video"``: the second pendulum moves continuously;
    * ``"fixed"``: it is frozen at a random angle for the episode;
    * ``"step"``: a new random angle, position and size every step (a pivot kept for the
      episode would identify it in a contrastive objective; measured: the RP-GSSM then learned
      nothing of the signal pendulum, R^2 ~ 0).

    Args:
        background: source drawn under it (default: Pendulum-v1's white background, tinted).
        torque_std: standard deviation of the random torque (N m) per step (clipped to [-2, 2]).
    """

    default_mode = "video"
    colour = (204, 77, 77)

    def __init__(
        self,
        mode: str | None = None,
        *,
        background: Source | None = None,
        torque_std: float = 1.0,
    ) -> None:
        if background is None:
            background = SolidSource(colour=(235, 235, 235), mode="fixed")
        super().__init__(background, mode)
        self.torque_std = float(torque_std)
        self.state = np.zeros(2)
        self._centre = np.zeros(2)
        self._length = 0.0

    def _random_state(self, rng: np.random.Generator) -> None:
        self.state = np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-1, 1)])

    def _draw(self, canvas: np.ndarray) -> np.ndarray:
        out = np.array(canvas, order="C", copy=True)
        theta = self.state[0]
        cy, cx = self._centre
        # Pendulum-v1 draws theta = 0 upright, counter-clockwise positive.
        ex = cx + self._length * np.sin(theta)
        ey = cy - self._length * np.cos(theta)
        thick = max(1, round(self._length * 0.2))
        cv2.line(out, (int(cx), int(cy)), (int(ex), int(ey)), self.colour, thick, cv2.LINE_AA)
        cv2.circle(out, (int(cx), int(cy)), max(1, thick // 3), (0, 0, 0), -1)
        return out

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = tuple(shape)  # type: ignore[assignment]
        base = self._reset_background(rng)
        self._random_layout(rng)
        self._random_state(rng)
        return self._draw(base)

    def _random_layout(self, rng: np.random.Generator) -> None:
        size = np.array(self._shape, float)
        self._length = float(rng.uniform(0.2, 0.4) * size.min())
        self._centre = rng.uniform(0.3, 0.7, 2) * size

    def step(self, rng: np.random.Generator) -> np.ndarray:
        base = self.background.step(rng)
        if self.mode == "step":
            self._random_layout(rng)
            self._random_state(rng)
        elif self.mode == "video":
            g, m, length, dt = 10.0, 1.0, 1.0, 0.05
            u = float(np.clip(rng.normal(0, self.torque_std), -2.0, 2.0))
            th, thdot = self.state
            thdot = thdot + (3 * g / (2 * length) * np.sin(th) + 3.0 / (m * length**2) * u) * dt
            thdot = float(np.clip(thdot, -8.0, 8.0))
            th = (th + thdot * dt + np.pi) % (2 * np.pi) - np.pi
            self.state = np.array([th, thdot])
        return self._draw(base)
