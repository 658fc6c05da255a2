"""Natural photographs as backgrounds: the ones bundled in installed packages, or a user folder.

Bundled photographs (no download ever): scikit-image's ``skimage/data`` images that ship in its
wheel (only files present on disk: :mod:`skimage.data` would fetch the others with pooch, we never
call it), scikit-learn's two sample images and matplotlib's ``grace_hopper.jpg``. With horizontal
flips this gives about 40 distinct backgrounds.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from rpgssm_env.wrappers.distractors.base import Shape, Source

__all__ = ["IMAGE_EXTENSIONS", "ImageSource", "bundled_image_paths", "list_images", "read_image"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

# Photographs (or photograph-like scans) in scikit-image's wheel; synthetic images (logo,
# chessboards, text renders, binary masks) are left out.
_SKIMAGE_PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "microaneurysms.png",
    "moon.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def bundled_image_paths() -> tuple[Path, ...]:
    """Paths of the natural photographs shipped inside installed packages (present on disk).

    Locates package folders with :func:`importlib.util.find_spec` (nothing is imported and
    nothing is downloaded).
    """
    paths: list[Path] = []
    skimage = _package_dir("skimage")
    if skimage is not None:
        paths += [skimage / "data" / n for n in _SKIMAGE_PHOTOS]
    sklearn = _package_dir("sklearn")
    if sklearn is not None:
        paths += [sklearn / "datasets" / "images" / n for n in ("china.jpg", "flower.jpg")]
    mpl = _package_dir("matplotlib")
    if mpl is not None:
        paths.append(mpl / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    return tuple(p for p in paths if p.is_file())


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(h, w, 3)`` uint8 RGB.

    Raises:
        FileNotFoundError: no such file.
        ValueError: OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:  # Pillow first: quiet about harmless colour-profile quirks that libpng prints
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception:
        pass
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(
            f"cannot read image file {path} (not an image Pillow or OpenCV can decode)"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by extension, sorted) directly inside ``folder``.

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a directory.
        ValueError: it holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(
            f"image folder {folder} is empty: no files with extensions {IMAGE_EXTENSIONS}"
        )
    return files


def _cover(img: np.ndarray, shape: Shape) -> np.ndarray:
    """Resize ``img`` so that it covers ``shape`` (keeping aspect), then centre-crop to it."""
    h, w = img.shape[:2]
    scale = max(shape[0] / h, shape[1] / w)
    nh, nw = max(shape[0], round(h * scale)), max(shape[1], round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    img = cv2.resize(img, (nw, nh), interpolation=interp)
    top, left = (nh - shape[0]) // 2, (nw - shape[1]) // 2
    return np.ascontiguousarray(img[top : top + shape[0], left : left + shape[1]])


@lru_cache(maxsize=16)
def _image_bank(paths: tuple[str, ...], big: Shape, flips: bool) -> np.ndarray:
    imgs = [_cover(read_image(p), big) for p in paths]
    if flips:
        imgs += [np.ascontiguousarray(im[:, ::-1]) for im in imgs]
    bank = np.stack(imgs)
    bank.flags.writeable = False
    return bank


class ImageSource(Source):
    """Natural photographs as backgrounds.

    Each image is resized once per target size ``(H, W)`` to cover ``(zoom*H, zoom*W)`` and
    cached; a background is an ``(H, W)`` crop of it:

    * ``"fixed"``: one random image and crop per episode;
    * ``"step"``: a new random image and crop every step (the paper's setting);
    * ``"video"``: one random image per episode, its crop panning smoothly (a slow camera pan).

    Args:
        images: image paths, a folder of images, or ``None`` for :func:`bundled_image_paths`.
        mode: see above (default ``"step"``).
        flips: add horizontally flipped copies (doubles the bank).
        zoom: crop window scale (``>= 1``); 1.5 keeps most of each picture.
        pan_speed: pixels per step of the ``"video"`` pan at the target size.

    Raises:
        FileNotFoundError / ValueError: missing folder or file, empty folder, unreadable image.
    """

    default_mode = "step"

    def __init__(
        self,
        images: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        mode: str | None = None,
        *,
        flips: bool = True,
        zoom: float = 1.5,
        pan_speed: float = 0.5,
    ) -> None:
        super().__init__(mode)
        if images is None:
            paths = list(bundled_image_paths())
            if not paths:
                raise ValueError("no bundled images found (scikit-image/scikit-learn missing?)")
        elif isinstance(images, str | os.PathLike):
            p = Path(images)
            paths = list_images(p) if p.is_dir() else [p]
        else:
            paths = [Path(p) for p in images]
            if not paths:
                raise ValueError("ImageSource got an empty list of images")
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"image file not found: {p}")
        self.paths = paths
        self.flips = flips
        self.zoom = max(1.0, float(zoom))
        self.pan_speed = float(pan_speed)
        self._cache: dict[Shape, np.ndarray] = {}
        self._bank: np.ndarray | None = None
        self._shape: Shape = (0, 0)
        self._img = 0
        self._pos = np.zeros(2)
        self._vel = np.zeros(2)

    def bank(self, shape: Shape) -> np.ndarray:
        """All images at ``(zoom*H, zoom*W)``: ``(N, zH, zW, 3)`` uint8 (cached per shape, and
        shared by every source of the process with the same images)."""
        if shape not in self._cache:
            big = (round(shape[0] * self.zoom), round(shape[1] * self.zoom))
            paths = tuple(str(p) for p in self.paths)
            self._cache[shape] = _image_bank(paths, big, self.flips)
        return self._cache[shape]

    def _crop(self) -> np.ndarray:
        assert self._bank is not None
        top, left = int(self._pos[0]), int(self._pos[1])
        h, w = self._shape
        return self._bank[self._img, top : top + h, left : left + w]

    def _random_view(self, rng: np.random.Generator) -> None:
        assert self._bank is not None
        self._img = int(rng.integers(len(self._bank)))
        room = np.array(self._bank.shape[1:3]) - np.array(self._shape)
        self._pos = rng.uniform(0, room + 1e-9)

    def reset(self, rng: np.random.Generator, shape: Shape) -> np.ndarray:
        self._shape = tuple(shape)  # type: ignore[assignment]
        self._bank = self.bank(self._shape)
        self._random_view(rng)
        angle = rng.uniform(0, 2 * np.pi)
        self._vel = self.pan_speed * np.array([np.sin(angle), np.cos(angle)])
        return self._crop()

    def step(self, rng: np.random.Generator) -> np.ndarray:
        assert self._bank is not None, "reset() the source first"
        if self.mode == "step":
            self._random_view(rng)
        elif self.mode == "video":
            room = np.array(self._bank.shape[1:3]) - np.array(self._shape)
            pos = self._pos + self._vel
            bounce = (pos < 0) | (pos > room)
            self._vel[bounce] *= -1
            self._pos = np.clip(pos, 0, room)
        return self._crop()

    def __repr__(self) -> str:
        return f"ImageSource({len(self.paths)} images, mode={self.mode!r})"
