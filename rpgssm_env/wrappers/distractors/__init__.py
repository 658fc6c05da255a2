"""Background distractors: sources of backgrounds, foreground masks, the wrapper, presets."""

from rpgssm_env.wrappers.distractors.base import (
    MODES,
    ArraySource,
    CallableSource,
    FrameSourceProtocol,
    IteratorSource,
    Source,
    as_source,
    check_frame,
)
from rpgssm_env.wrappers.distractors.images import ImageSource, bundled_image_paths
from rpgssm_env.wrappers.distractors.masks import (
    ColourKeyMask,
    SegmentationMask,
    composite,
)
from rpgssm_env.wrappers.distractors.presets import DIFFICULTIES, DISTRACTORS, make_source
from rpgssm_env.wrappers.distractors.procedural import (
    NoiseSource,
    PendulumSource,
    ShapesSource,
    SolidSource,
)
from rpgssm_env.wrappers.distractors.transforms import CameraShift, ColourShift
from rpgssm_env.wrappers.distractors.video import VideoSource, bundled_video_paths
from rpgssm_env.wrappers.distractors.wrapper import BackgroundDistractor, make_mask

__all__ = [
    "DIFFICULTIES",
    "DISTRACTORS",
    "MODES",
    "ArraySource",
    "BackgroundDistractor",
    "CallableSource",
    "CameraShift",
    "ColourKeyMask",
    "ColourShift",
    "FrameSourceProtocol",
    "ImageSource",
    "IteratorSource",
    "NoiseSource",
    "PendulumSource",
    "SegmentationMask",
    "ShapesSource",
    "SolidSource",
    "Source",
    "VideoSource",
    "as_source",
    "bundled_image_paths",
    "bundled_video_paths",
    "check_frame",
    "composite",
    "make_mask",
    "make_source",
]
