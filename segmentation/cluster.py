"""Co-segmentation by clustering: label one or several images together, offline, with no training.

Each image is shrunk to a working size and described per pixel by CIELAB colour, position and VGG
features from five depths (relu1_2 .. relu5_1), each depth reduced to a few principal components
computed over all images together. SLIC superpixels average these descriptions over small coherent
patches. Then (regions.py) each image's superpixels are joined into a few spatially whole regions,
and the regions of all images are grouped into labels, alike regions together whether they touch or
not, until the next join would cost too much: that chooses the number of labels, or `labels` fixes
it. One label means one kind of region in every image.

Specks are then absorbed by their surroundings, labels too small to paint are dropped, and the
labels are carried to each image's full size along its own colour edges (refine.py). Two weak
priors name the sky and the water where a picture has them (priors.py).

With several images, each image's descriptors are centred on its own mean first, so a painting and
a photo are compared by how their regions differ within each picture rather than by their overall
palette or brushwork.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2lab
from skimage.filters import sobel
from skimage.segmentation import slic
from skimage.transform import resize

from doodle.encoder import VGGEncoder, load_encoder
from doodle.errors import DoodleError
from doodle.images import image_to_tensor

from .cleanup import absorb, remove_specks
from .priors import landscape_names
from .refine import refine_labels
from .regions import border_statistics, group_regions, grow_regions
from .result import CLUSTER_COLOURS, MAX_LABELS, Segmentation, area_order

WORK_SIDE = 384  # the long side images are labelled at; labels are then refined at full size
FEATURE_LAYERS = ("relu1_2", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# relu5_1 sees the picture through four halvings: a side under 16 px leaves it nothing.
MIN_WORKING_SIDE = 16
MAX_ASPECT = WORK_SIDE // MIN_WORKING_SIDE
COMPONENTS_PER_LAYER = 16
SUPERPIXELS = 800  # per image, at the working size
SUPERPIXEL_COMPACTNESS = 10.0
# Relative weights of the descriptor blocks; each block is first scaled to unit total variance.
# Texture (VGG) leads; colour and position break ties. Chosen on the shared samples with the
# previous labelling (k-means and border merging), and kept: regions.py's settings were tuned on top.
COLOUR_WEIGHT = 0.5
ROW_WEIGHT = 0.3
COLUMN_WEIGHT = 0.3
TEXTURE_WEIGHT = 1.0
MIN_LABEL_SHARE = 0.01  # labels smaller than this share of all images together are absorbed


def working_copy(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """The image shrunk (never enlarged) so that its long side is `side`, antialiased."""
    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    if shape == (height, width):
        return image.astype(np.float32)
    return resize(image, shape, anti_aliasing=True).astype(np.float32)


def _standardise(block: np.ndarray) -> np.ndarray:
    """Scale a descriptor block to unit total variance, so blocks weigh what their weight says."""
    spread = np.sqrt(block.var(axis=0).sum())
    return block / spread if spread > 0 else block


def texture_descriptors(images: list[np.ndarray], encoder: VGGEncoder,
                        layers: tuple[str, ...] = FEATURE_LAYERS,
                        components: int = COMPONENTS_PER_LAYER) -> list[list[np.ndarray]]:
    """Per image, per layer: (H*W, components) projections of unit-length VGG features.

    The projection is a PCA over all images' features together (deterministic: an eigen-
    decomposition of the covariance), so one direction means the same thing in every image. It is
    done at the layer's own resolution and only the projections are upsampled (projection and
    bilinear upsampling are both linear, so the order does not change the result).
    """
    batches = layer_grids(images, encoder, layers)
    axes = texture_axes(batches, components)
    return [[project(batch[layer], *axes[layer], image.shape[:2]) for layer in layers]
            for batch, image in zip(batches, images)]


TextureAxes = dict[str, tuple[torch.Tensor, torch.Tensor]]  # layer -> (mean, basis) of its PCA


def texture_axes(batches: list[dict[str, torch.Tensor]], components: int = COMPONENTS_PER_LAYER) -> TextureAxes:
    """Per layer, the mean and leading principal directions of all images' unit-length features."""
    axes: TextureAxes = {}
    for layer in batches[0]:
        stacked = torch.cat([unit_rows(batch[layer]) for batch in batches])
        mean = stacked.mean(0)
        centred = stacked - mean
        _, vectors = torch.linalg.eigh(centred.T @ centred / len(stacked))
        axes[layer] = (mean, vectors[:, -components:])  # eigh sorts ascending: the last columns lead
    return axes


def layer_grids(images: list[np.ndarray], encoder: VGGEncoder, layers: tuple[str, ...],
                dtype: torch.dtype = torch.float64) -> list[dict[str, torch.Tensor]]:
    """Per image, per layer: the (C, h, w) features on the CPU (in double precision unless told)."""
    with torch.no_grad():
        device = next(encoder.parameters()).device
        batches = [encoder(image_to_tensor(image, device), layers) for image in images]
    return [{layer: batch[layer][0].to(device="cpu", dtype=dtype) for layer in layers} for batch in batches]


def unit_rows(grid: torch.Tensor) -> torch.Tensor:
    """(C, h, w) features -> (h*w, C) rows of unit length (texture, not contrast)."""
    return F.normalize(grid.flatten(1).T, dim=1)


def project(grid: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """(H*W, components): the (C, h, w) features' unit rows on a layer's axes, upsampled to `shape`."""
    components = basis.shape[1]
    projected = ((unit_rows(grid) - mean) @ basis).T.reshape(1, components, *grid.shape[1:])
    upsampled = F.interpolate(projected, size=shape, mode="bilinear", align_corners=False)
    return upsampled[0].flatten(1).T.numpy()


def superpixel_means(superpixels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(S, D): the mean of each column of `values` (H*W, D) over each superpixel."""
    return group_means(superpixels.ravel(), np.ones(superpixels.size), values)[0]


def describe_superpixels(images: list[np.ndarray], superpixels: list[np.ndarray],
                         textures: list[list[np.ndarray]]) -> np.ndarray:
    """One row per superpixel of all images: colour, row, column and texture blocks, weighted."""
    centre_each = len(images) > 1

    def block(per_image: list[np.ndarray]) -> np.ndarray:
        means = [superpixel_means(sp, values) for sp, values in zip(superpixels, per_image)]
        if centre_each:
            means = [m - m.mean(0) for m in means]
        return _standardise(np.concatenate(means))

    colour = block([rgb2lab(image).reshape(-1, 3) for image in images])
    positions = []
    for image in images:
        rows, columns = np.mgrid[0: image.shape[0], 0: image.shape[1]]
        # Relative positions, so pictures of different sizes line up.
        positions.append(np.stack([rows.ravel() / image.shape[0], columns.ravel() / image.shape[1]], 1))
    position = np.concatenate([superpixel_means(sp, p) for sp, p in zip(superpixels, positions)])
    position = (position - position.mean(0)) / np.maximum(position.std(0), 1e-9)
    layer_count = len(textures[0])
    texture = [block([per_image[i] for per_image in textures]) for i in range(layer_count)]
    return np.concatenate([colour * COLOUR_WEIGHT, position[:, :1] * ROW_WEIGHT, position[:, 1:] * COLUMN_WEIGHT]
                          + [t * TEXTURE_WEIGHT / np.sqrt(layer_count) for t in texture], axis=1)


def edge_strength(image: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (CIELAB, lightly smoothed), in units of its own median (0 where flat)."""
    lab = rgb2lab(gaussian_filter(image, sigma=(1.5, 1.5, 0)))
    magnitude = np.sqrt(sum(sobel(lab[..., channel]) ** 2 for channel in range(3)))
    # A mostly flat picture (a median gradient of 0) is measured against the median of its edges.
    positive = magnitude[magnitude > 0]
    median = np.median(positive) if positive.size else 0.0
    return magnitude / median if median > 0 else magnitude


def group_means(groups: np.ndarray, weights: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G, D) weighted means of `rows` per group (0..G-1), and (G,) the groups' total weights."""
    totals = np.bincount(groups, weights=weights)
    sums = np.stack([np.bincount(groups, weights=weights * column) for column in rows.T], axis=1)
    return sums / totals[:, None], totals


@dataclass(frozen=True)
class Regions:
    """Every image's regions (regions.py's first merge), numbered across all images together."""

    maps: list[np.ndarray]  # per image, (H, W) region index at the working size
    means: np.ndarray  # (R, D) each region's mean descriptor
    sizes: np.ndarray  # (R,) pixels
    borders: dict[tuple[int, int], tuple[float, int]]  # (a, b), a < b -> (edge strength sum, length)
    total_variance: float  # of the superpixels' descriptors about their mean, by pixels: the unit of prices
    images: np.ndarray  # (R,) the image each region belongs to


def find_regions(superpixels: list[np.ndarray], rows: np.ndarray, edges: list[np.ndarray]) -> Regions:
    """Join each image's superpixels (descriptors `rows`, all images' in order) into regions."""
    sizes = np.concatenate([np.bincount(sp.ravel()) for sp in superpixels]).astype(np.float64)
    offsets = np.cumsum([0] + [int(sp.max()) + 1 for sp in superpixels])
    maps, owners, images, borders = [], [], [], {}
    first = 0
    for index, (image_superpixels, image_edges) in enumerate(zip(superpixels, edges)):
        region_of = grow_regions(image_superpixels, rows[offsets[index]: offsets[index + 1]], image_edges)
        count = int(region_of.max()) + 1
        owners.append(region_of + first)
        images.append(np.full(count, index))
        maps.append(owners[-1][image_superpixels])
        borders.update(border_statistics(maps[-1], image_edges))
        first += count
    means, region_sizes = group_means(np.concatenate(owners), sizes, rows)
    centre = (rows * sizes[:, None]).sum(0) / sizes.sum()
    total_variance = float((sizes * ((rows - centre) ** 2).sum(1)).sum())
    return Regions(maps, means, region_sizes, borders, total_variance, np.concatenate(images))


def cluster_segment(images: list[np.ndarray], labels: int | None = None,
                    encoder: VGGEncoder | None = None, names: list[str] | None = None) -> Segmentation:
    """Label `images` (float RGB in [0, 1]) together; `labels` fixes the number of labels; `names`
    name the images in messages."""
    encoder = encoder or load_encoder("auto")
    small = [working_copy(image) for image in images]
    for index, (image, original) in enumerate(zip(small, images)):
        if min(image.shape[:2]) < MIN_WORKING_SIDE:
            name = names[index] if names is not None else f"image {index + 1}"
            raise DoodleError(f"{name}: {original.shape[1]}x{original.shape[0]} is too thin for the cluster method "
                              f"(it works at {image.shape[1]}x{image.shape[0]}); crop it closer to {MAX_ASPECT}:1 "
                              "or less")
    textures = texture_descriptors(small, encoder)
    # Numbered without gaps: an unused number would be an empty superpixel with no mean.
    superpixels = [np.unique(slic(image, n_segments=SUPERPIXELS, compactness=SUPERPIXEL_COMPACTNESS, start_label=0),
                             return_inverse=True)[1].reshape(image.shape[:2]) for image in small]
    rows = describe_superpixels(small, superpixels, textures)
    edges = [edge_strength(image) for image in small]
    regions = find_regions(superpixels, rows, edges)
    grouped = group_regions(regions.means, regions.sizes, regions.borders, regions.total_variance, labels, MAX_LABELS,
                            regions.images)
    count = int(grouped.labels.max()) + 1
    merged = [grouped.labels[image] for image in regions.maps]
    cleaned = [remove_specks(image) for image in merged]
    if labels is None or len(np.unique(np.concatenate([image.ravel() for image in cleaned]))) >= labels:
        merged = cleaned  # specks are absorbed, unless that would leave fewer labels than asked for

    # Labels too small to paint from are absorbed too, unless that would leave fewer than asked for.
    areas = sum(np.bincount(image.ravel(), minlength=count) for image in merged)
    total = areas.sum()
    tiny = np.flatnonzero((areas > 0) & (areas < MIN_LABEL_SHARE * total))
    if labels is None or (areas > 0).sum() - len(tiny) >= labels:
        merged = [absorb(image, np.isin(image, tiny)) for image in merged]

    present = np.unique(np.concatenate([image.ravel() for image in merged]))
    compact = np.zeros(count, dtype=np.int64)
    compact[present] = np.arange(len(present))
    merged = [compact[image] for image in merged]
    remap = area_order(merged, len(present))
    merged = [remap[image] for image in merged]
    full = [refine_labels(image, original) for image, original in zip(merged, images)]
    notes = []
    if labels is not None and len(present) != labels:
        notes.append(f"asked for {labels} labels; {grouped.reason}")
    names = landscape_names(merged, small, edges, len(present))
    reason = grouped.reason if labels is None else ""
    if reason and len(present) < count:
        absorbed = count - len(present)
        reason += f"; {absorbed} of them too small to paint, absorbed by their surroundings"
    return Segmentation("cluster", names, CLUSTER_COLOURS[: len(present)].copy(), full, notes, reason)
