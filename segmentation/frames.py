"""Maps for every frame of a clip, with labels that stay the same from frame to frame.

    from segmentation import segment
    from segmentation.frames import fit_labeller
    result = segment([style, first_frame], method="cluster", encoder=encoder)
    labeller = fit_labeller([style, first_frame], result, encoder=encoder, anchor=1)
    style_map = result.maps[0]
    maps = [labeller.label(frame) for frame in frames]  # the first frame too, so that it matches the rest

    labeller = fit_labeller(painting, painting_map, encoder=encoder, anchor=first_frame)  # a hand map

Segmenting each frame on its own would renumber and recolour its labels, and move its borders, at
every frame. Instead a labelling is fitted once, from images that already have labels: the
co-segmentation of the style and the clip's first frame, or a painting and its hand-drawn map (the
frames then get that map's own colours). The fit keeps what is needed to describe new pixels in the
same terms as `cluster` does: the PCA of each VGG layer, the spread of each descriptor block, and
the descriptors of the fitted images' superpixels (cut in two where a label border crosses one),
each with its label. A frame is then cut into
superpixels, described with those saved projections and scales (never refitted, so one direction
means the same thing in every frame), and each superpixel takes the label most of its nearest
fitted superpixels carry.

Nearest fitted superpixels rather than nearest label centroids: a label is often several kinds of
texture (cluster's border merging joins the dark and light halves of a sky; a hand-drawn "sea" holds
waves and calm water), and a single centroid sits between its modes, where another label's may be
nearer. The k nearest follow every mode, and their vote outweighs the odd fitted superpixel that
straddles a border and carries its neighbour's label. Labels that no fitted superpixel carries can
never appear. On a pan across scikit-image's rocket photo (9 frames of 512x384, 16 px apart), labelled
from a co-segmentation with the Monet, consecutive frames agree on 98.2% of the scene they share with
9 neighbours and 97.0% with label centroids, and the first frame's co-segmented map is reproduced on
96.9% of its pixels against 88.5%.

Position is left out of frame descriptors: the camera moves, and the fitted layout would drag the
labels back to where regions were in the fitted image. Colour and texture are kept, weighted as in
`cluster`. Like `cluster`, descriptors are compared relative to a mean, so that a painting and a
photo are compared by how their regions differ within each picture rather than by their palette: each
fitted image's own mean, and for frames the mean of an `anchor` (the clip's frame among the fitted
images, or a frame of the clip), fixed for the whole clip so that a frame's labels do not depend on
how much of each region it happens to show. Without an anchor every frame is centred on its own mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import csr_matrix
from skimage.color import rgb2lab
from skimage.segmentation import slic
from skimage.transform import resize

from doodle.encoder import VGGEncoder, load_encoder
from doodle.errors import DoodleError
from doodle.images import ImageLike, check_map_matches, load_image, load_map, name_of, resize_map
from doodle.semantic import colour_name, label_maps

from .cleanup import remove_specks
from .cluster import (
    COLOUR_WEIGHT,
    FEATURE_LAYERS,
    MAX_ASPECT,
    MIN_WORKING_SIDE,
    SUPERPIXEL_COMPACTNESS,
    SUPERPIXELS,
    TEXTURE_WEIGHT,
    TextureAxes,
    layer_grids,
    project,
    texture_axes,
    working_copy,
)
from .result import Segmentation

NEIGHBOURS = 9  # fitted superpixels that vote on each frame superpixel's label
# A fitted superpixel that a label border cuts is split into one piece per label; pieces smaller than
# this share of an average superpixel are slivers whose texture is mostly the neighbour's.
MIN_PIECE_SHARE = 0.25


@dataclass(frozen=True, eq=False)
class FrameLabeller:
    """A labelling fitted once (`fit_labeller`), applied to any number of frames."""

    palette: np.ndarray  # (K, 3) uint8, the colour each label is painted in
    names: list[str]  # one name per label
    encoder: VGGEncoder
    axes: TextureAxes  # per VGG layer, the fitted PCA (mean, basis)
    column_scale: np.ndarray  # (D,) per descriptor column: its block's weight over the block's fitted spread
    references: np.ndarray  # (N, D) scaled, centred descriptors of the fitted superpixel pieces
    reference_labels: np.ndarray  # (N,) the label of each
    anchor: np.ndarray | None  # (D,) the raw mean frames are centred on; None: each frame's own mean

    @property
    def present(self) -> np.ndarray:
        """The labels a frame can get: those of the fitted images, in label order."""
        return np.unique(self.reference_labels)

    def label_indices(self, frame: ImageLike, name: str = "frame") -> np.ndarray:
        """(H, W) int labels of `frame` (a path, or an RGB array), at its full size."""
        image = _checked_image(frame, name)
        small = _checked_working_copy(image, name)
        superpixels = _superpixels(small)
        [rows] = _describe(small, _frame_grids(small, self.encoder, self.axes), self.axes, [superpixels])
        centre = self.anchor if self.anchor is not None else rows.mean(0)
        chosen = nearest_vote((rows - centre) * self.column_scale, self.references, self.reference_labels,
                              len(self.palette))
        labels = remove_specks(chosen[superpixels])
        return _resize_labels(labels, image.shape[:2])

    def label(self, frame: ImageLike, name: str = "frame") -> np.ndarray:
        """The map of `frame`: uint8 HxWx3 in the palette's colours, at the frame's size."""
        return self.palette[self.label_indices(frame, name)]

    def anchored(self, frame: ImageLike, name: str = "frame") -> FrameLabeller:
        """This labeller with every frame centred on `frame`'s mean (pass the clip's first frame)."""
        return replace(self, anchor=_mean_row(_checked_image(frame, name), name, self.encoder, self.axes))


def fit_labeller(images: Sequence[ImageLike] | ImageLike, segmentation_or_maps: Segmentation | Sequence[ImageLike]
                 | ImageLike, encoder: VGGEncoder | None = None, *, anchor: int | ImageLike | None = None,
                 names: Sequence[str] | None = None) -> FrameLabeller:
    """Fit a labeller on `images` (paths, or RGB arrays) and their labels.

    `segmentation_or_maps` is what `segment(images)` returned for exactly these images, or one map per
    image (paths or uint8 arrays, e.g. a painting's hand-drawn map; the frames then get its colours).
    `anchor` fixes what frames are centred on: the index of the clip's frame among `images`, or a frame
    of the clip; without one each frame is centred on its own mean. `encoder` is reused for every frame
    (the default loads one). `names` name the images in messages (paths name themselves).
    """
    if isinstance(images, (str, Path, np.ndarray)):
        images = [images]
    images = list(images)
    if not images:
        raise DoodleError("give at least one image to fit frame labels on")
    if names is not None and len(names) != len(images):
        raise DoodleError(f"got {len(names)} names for {len(images)} images")
    names = list(names) if names is not None else [name_of(image, f"image {i + 1}") for i, image in enumerate(images)]
    arrays = [_checked_image(image, name) for image, name in zip(images, names)]
    palette, label_names, labels = _fitted_labels(arrays, names, segmentation_or_maps)

    if isinstance(anchor, (int, np.integer)) and not -len(images) <= anchor < len(images):
        raise DoodleError(f"anchor {anchor}: give the index of one of the {len(images)} fitted images")
    anchor_image = None
    if anchor is not None and not isinstance(anchor, (int, np.integer)):
        anchor_image = _checked_image(anchor, name_of(anchor, "anchor frame"))
    encoder = encoder or load_encoder("auto")

    small = [_checked_working_copy(image, name) for image, name in zip(arrays, names)]
    grids = layer_grids(small, encoder, FEATURE_LAYERS)
    axes = {layer: (mean.float(), basis.float()) for layer, (mean, basis) in texture_axes(grids).items()}
    means, superpixel_rows, piece_rows, piece_labels = [], [], [], []
    for image, image_grids, image_labels in zip(small, grids, labels):
        superpixels = _superpixels(image)
        pieces, piece_label = _pieces(superpixels, _resize_labels(image_labels, image.shape[:2]), len(palette))
        rows, piece_means = _describe(image, image_grids, axes, [superpixels, pieces])
        means.append(rows.mean(0))
        superpixel_rows.append(rows - means[-1])
        piece_rows.append(piece_means[: len(piece_label)] - means[-1])
        piece_labels.append(piece_label)
    column_scale = _column_scale(np.concatenate(superpixel_rows), _block_columns(axes))
    centre = None
    if anchor_image is not None:
        centre = _mean_row(anchor_image, name_of(anchor, "anchor frame"), encoder, axes)
    elif anchor is not None:
        centre = means[anchor]
    return FrameLabeller(palette, label_names, encoder, axes, column_scale,
                         np.concatenate(piece_rows) * column_scale, np.concatenate(piece_labels), centre)


def nearest_vote(rows: np.ndarray, references: np.ndarray, reference_labels: np.ndarray, count: int,
                 neighbours: int = NEIGHBOURS) -> np.ndarray:
    """The label most of each row's `neighbours` nearest references carry (ties: the nearer)."""
    neighbours = min(neighbours, len(references))
    distances = ((rows ** 2).sum(1)[:, None] + (references ** 2).sum(1)[None] - 2 * rows @ references.T)
    nearest = np.argpartition(distances, neighbours - 1, axis=1)[:, :neighbours]
    order = np.take_along_axis(distances, nearest, axis=1).argsort(1)
    nearest = np.take_along_axis(nearest, order, axis=1)
    # One vote each, nearer ones a hair heavier, so a tie goes to the label of the nearer.
    weights = 1.0 - np.arange(neighbours) / (10.0 * neighbours)
    votes = np.zeros((len(rows), count))
    np.add.at(votes, (np.arange(len(rows))[:, None], reference_labels[nearest]), weights[None])
    return votes.argmax(1)


def _fitted_labels(images: list[np.ndarray], names: list[str], given) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """(palette, label names, one (H, W) label image per image) from a Segmentation or from maps."""
    if isinstance(given, Segmentation):
        if len(given.labels) != len(images):
            raise DoodleError(f"the segmentation has maps for {len(given.labels)} images but {len(images)} images "
                              "were given; fit on the images that were segmented together")
        for image, labels, name in zip(images, given.labels, names):
            if labels.shape != image.shape[:2]:
                raise DoodleError(f"{name}: is {image.shape[1]}x{image.shape[0]} but its segmentation is "
                                  f"{labels.shape[1]}x{labels.shape[0]}; fit on the images that were segmented")
        return given.palette, list(given.names), [np.asarray(labels, np.int64) for labels in given.labels]
    if isinstance(given, (str, Path, np.ndarray)):
        given = [given]
    given = list(given)
    if len(given) != len(images):
        raise DoodleError(f"got {len(given)} maps for {len(images)} images; give one map per image")
    maps = []
    for image, value, name in zip(images, given, names):
        map_name = name_of(value, f"map of {name}")
        semantic = load_map(value, map_name)
        check_map_matches(image.shape, semantic.shape, name, map_name)
        if semantic.shape[:2] != image.shape[:2]:
            semantic = resize_map(semantic, (image.shape[1], image.shape[0]))
        maps.append(semantic)
    labelling = label_maps(maps)
    return labelling.palette, [colour_name(colour) for colour in labelling.palette], labelling.labels


def _checked_image(value: ImageLike, name: str) -> np.ndarray:
    from . import MIN_SIDE  # here, not at the top: the package imports its methods lazily too

    image = load_image(value, name)
    if min(image.shape[:2]) < MIN_SIDE:
        raise DoodleError(f"{name}: is {image.shape[1]}x{image.shape[0]}; segmentation needs at least "
                          f"{MIN_SIDE} pixels on each side; use a larger image")
    return image


def _checked_working_copy(image: np.ndarray, name: str) -> np.ndarray:
    small = working_copy(image)
    if min(small.shape[:2]) < MIN_WORKING_SIDE:
        raise DoodleError(f"{name}: {image.shape[1]}x{image.shape[0]} is too thin for automatic maps (they work "
                          f"at {small.shape[1]}x{small.shape[0]}); crop it closer to {MAX_ASPECT}:1 or less")
    return small


def _superpixels(image: np.ndarray) -> np.ndarray:
    """SLIC superpixels as in `cluster`, numbered 0..S-1 without gaps (every row describes some pixels)."""
    superpixels = slic(image, n_segments=SUPERPIXELS, compactness=SUPERPIXEL_COMPACTNESS, start_label=0)
    return np.unique(superpixels, return_inverse=True)[1].reshape(superpixels.shape)


def _frame_grids(image: np.ndarray, encoder: VGGEncoder, axes: TextureAxes) -> dict[str, torch.Tensor]:
    # Single precision: frames need speed, and their descriptors are compared, not decomposed.
    return layer_grids([image], encoder, tuple(axes), torch.float32)[0]


def _describe(image: np.ndarray, grids: dict[str, torch.Tensor], axes: TextureAxes,
              partitions: list[np.ndarray]) -> list[np.ndarray]:
    """For each partition of `image` into regions ((H, W) indices from 0), the (R, D) means over each
    region of its pixels' CIELAB colour and texture projections: `cluster`'s descriptors less position."""
    values = np.concatenate([rgb2lab(image).reshape(-1, 3).astype(np.float32)]
                            + [project(grids[layer].float(), mean, basis, image.shape[:2])
                               for layer, (mean, basis) in axes.items()], axis=1)
    means = []
    for regions in partitions:
        flat = regions.ravel()
        # One sparse product sums every column over every region at once.
        membership = csr_matrix((np.ones(flat.size, np.float32), (flat, np.arange(flat.size))))
        sizes = np.bincount(flat).astype(np.float64)
        means.append((membership @ values) / sizes[:, None])
    return means


def _mean_row(image: np.ndarray, name: str, encoder: VGGEncoder, axes: TextureAxes) -> np.ndarray:
    """The mean of an image's superpixel descriptors: what frames are centred on."""
    small = _checked_working_copy(image, name)
    return _describe(small, _frame_grids(small, encoder, axes), axes, [_superpixels(small)])[0].mean(0)


def _block_columns(axes: TextureAxes) -> list[slice]:
    """The columns of each descriptor block: colour, then one block per layer."""
    widths = [3] + [basis.shape[1] for _, basis in axes.values()]
    ends = np.cumsum(widths)
    return [slice(int(end - width), int(end)) for end, width in zip(ends, widths)]


def _column_scale(centred: np.ndarray, blocks: list[slice]) -> np.ndarray:
    """Per column, the block's weight over the block's spread (its total standard deviation), as
    `cluster` weighs its blocks, from the fitted images' centred superpixel descriptors."""
    scale = np.empty(centred.shape[1])
    for index, block in enumerate(blocks):
        weight = COLOUR_WEIGHT if index == 0 else TEXTURE_WEIGHT / np.sqrt(len(blocks) - 1)
        spread = np.sqrt(centred[:, block].var(axis=0).sum())
        scale[block] = weight / spread if spread > 0 else weight
    return scale


def _pieces(superpixels: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Superpixels cut along label borders: (piece index per pixel, label of each kept piece).
    Slivers are dropped, unless a label would lose every piece: their pixels all get one extra index
    past the kept pieces, so that the caller can describe every pixel and then leave that row out."""
    codes = superpixels.astype(np.int64) * count + labels
    unique, inverse, sizes = np.unique(codes.ravel(), return_inverse=True, return_counts=True)
    piece_labels = unique % count
    keep = sizes >= MIN_PIECE_SHARE * superpixels.size / (superpixels.max() + 1)
    for label in np.unique(piece_labels[~keep]):
        if not keep[piece_labels == label].any():  # a small label: keep its largest piece
            keep[np.flatnonzero(piece_labels == label)[sizes[piece_labels == label].argmax()]] = True
    renumber = np.where(keep, np.cumsum(keep) - 1, keep.sum())
    return renumber[inverse].reshape(superpixels.shape), piece_labels[keep]


def _resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Labels resized to `shape` by nearest neighbours, so that no label is invented."""
    if labels.shape == tuple(shape):
        return labels
    return resize(labels, shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.int64)
