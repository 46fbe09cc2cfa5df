"""Colour control after painting: keep the content's colours, or match the style's per label.

Both are pure functions on float HxWx3 images in [0, 1]; scikit-image does the colour spaces and
the histogram matching.
"""

from __future__ import annotations

import numpy as np
from skimage.color import lab2rgb, rgb2lab, rgb2yiq, yiq2rgb
from skimage.exposure import match_histograms


def keep_luminance(painting: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The painting's luminance with the content's chroma (YIQ), as Gatys et al. preserve colour:
    only light and dark strokes come from the style, every hue from the photo."""
    yiq = rgb2yiq(painting)
    yiq[..., 1:] = rgb2yiq(content)[..., 1:]
    return np.clip(yiq2rgb(yiq), 0, 1).astype(np.float32)


def match_colours(painting: np.ndarray, painting_labels: np.ndarray | None,
                  styles: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Match the painting's colour histograms (in CIELAB) to the style's, label by label.

    `painting_labels` is (H, W) label indices or None; `styles` holds (image, labels or None) pairs
    of the same size each, whose pixels are pooled. A label no style has keeps its colours."""
    lab = rgb2lab(painting)
    style_pixels = [(rgb2lab(image).reshape(-1, 3), None if labels is None else labels.ravel())
                    for image, labels in styles]
    if painting_labels is None or any(labels is None for _, labels in style_pixels):
        reference = np.concatenate([pixels for pixels, _ in style_pixels])
        matched = _match(lab.reshape(-1, 3), reference)
    else:
        matched = lab.reshape(-1, 3).copy()
        flat_labels = painting_labels.ravel()
        for label in np.unique(flat_labels):
            reference = np.concatenate([pixels[labels == label] for pixels, labels in style_pixels])
            if len(reference):
                where = flat_labels == label
                matched[where] = _match(matched[where], reference)
    return np.clip(lab2rgb(matched.reshape(lab.shape)), 0, 1).astype(np.float32)


def _match(pixels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    # match_histograms wants images; an (N, 1, 3) column of pixels is one.
    return match_histograms(pixels[:, None], reference[:, None], channel_axis=-1)[:, 0]
