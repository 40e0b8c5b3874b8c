"""Letterboxing: resize keeping the aspect ratio, pad to the network input size.

The same transform serves training (clip sampler) and inference (tracker); its inverse maps
boxes from network-input pixels back to original frame pixels, so the linker only ever sees
original pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # grey padding, as in common detectors: far from both black and white


@dataclass(frozen=True)
class Letterbox:
    """Maps original pixels to input pixels: ``x_in = x * scale + pad_x`` (same for y)."""

    scale: float
    pad_x: float
    pad_y: float

    @staticmethod
    def fit(*, src_size: tuple[int, int], dst_size: tuple[int, int]) -> "Letterbox":
        """Transform that fits a (width, height) ``src_size`` into ``dst_size``, centred."""
        sw, sh = src_size
        dw, dh = dst_size
        scale = min(dw / sw, dh / sh)
        nw, nh = round(sw * scale), round(sh * scale)
        return Letterbox(scale=scale, pad_x=(dw - nw) // 2, pad_y=(dh - nh) // 2)

    def apply(self, image: np.ndarray, dst_size: tuple[int, int]) -> np.ndarray:
        """Resize and pad an (H, W, 3) uint8 image to ``dst_size`` = (width, height)."""
        h, w = image.shape[:2]
        nw, nh = round(w * self.scale), round(h * self.scale)
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else image
        out = np.full((dst_size[1], dst_size[0], 3), PAD_VALUE, dtype=np.uint8)
        x0, y0 = int(self.pad_x), int(self.pad_y)
        out[y0:y0 + nh, x0:x0 + nw] = resized[: dst_size[1] - y0, : dst_size[0] - x0]
        return out

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy original pixels -> (N, 4) xyxy input pixels."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * self.scale
        return b + np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy input pixels -> (N, 4) xyxy original pixels."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return (b - np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])) / self.scale


def letterbox(image: np.ndarray, dst_size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Letterbox ``image`` (H, W, 3) into ``dst_size`` = (width, height); returns image and transform."""
    h, w = image.shape[:2]
    lb = Letterbox.fit(src_size=(w, h), dst_size=dst_size)
    return lb.apply(image, dst_size), lb
