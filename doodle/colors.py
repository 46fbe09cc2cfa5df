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
                  styles: list[tuple[np.ndarray, np.ndarray | None]],
                  weights: list[float] | None = None) -> np.ndarray:
    """Match the painting's colour histograms (in CIELAB) to the style's, label by label.

    `painting_labels` is (H, W) label indices or None; `styles` holds (image, labels or None) pairs,
    each labels array the size of its image. Several styles' pixels are pooled in the shares of
    `weights` (default equal). A label no style has keeps its colours."""
    weights = weights or [1.0] * len(styles)
    lab = rgb2lab(painting)
    style_pixels = [(rgb2lab(image).reshape(-1, 3), None if labels is None else labels.ravel())
                    for image, labels in styles]
    if painting_labels is None or any(labels is None for _, labels in style_pixels):
        reference = _pool([pixels for pixels, _ in style_pixels], weights)
        matched = _match(lab.reshape(-1, 3), reference)
    else:
        matched = lab.reshape(-1, 3).copy()
        flat_labels = painting_labels.ravel()
        for label in np.unique(flat_labels):
            reference = _pool([pixels[labels == label] for pixels, labels in style_pixels], weights)
            if len(reference):
                where = flat_labels == label
                matched[where] = _match(matched[where], reference)
    return np.clip(lab2rgb(matched.reshape(lab.shape)), 0, 1).astype(np.float32)


def _pool(pixel_sets: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Pixels of several styles in the shares of their weights, whatever their counts: each set is
    resampled (evenly, with repeats where it is short) to its share of the largest set's size."""
    present = [(pixels, weight) for pixels, weight in zip(pixel_sets, weights) if len(pixels) and weight > 0]
    if len(present) <= 1:
        return present[0][0] if present else np.empty((0, 3))
    size = max(len(pixels) for pixels, _ in present)
    total = sum(weight for _, weight in present)
    return np.concatenate([pixels[np.linspace(0, len(pixels) - 1, max(1, round(size * weight / total))).astype(int)]
                           for pixels, weight in present])


def _match(pixels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    # match_histograms wants images; an (N, 1, 3) column of pixels is one.
    return match_histograms(pixels[:, None], reference[:, None], channel_axis=-1)[:, 0]
