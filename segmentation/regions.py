"""From superpixels to a painter's labels, in two merges.

1. **Regions** (`grow_regions`, per image): neighbouring superpixels are joined, cheapest first, into
   a few spatially whole regions. The price of a join is Ward's: how much it adds to the squared
   spread of the descriptors (colour, texture, position) about their region means, which is small for
   two small or two alike pieces. It is multiplied by the square of the colour-edge strength along the
   pieces' shared border, so that a soft seam (the two halves of a sky that darkens upwards) is cheap
   to cross and a hard one (a cliff against the sky) dear.
2. **Labels** (`group_regions`, all images together): the regions are grouped, cheapest join first,
   between any two regions of any image: two meadows that a stand of trees separates, or the sky of
   a painting and the sky of a photo, are one material. The price is the squared distance between
   the two groups' mean descriptors, weighted by their size, times the edge strength of their
   shared border. Groups that share no border are priced at `APART_FACTOR` when they have regions
   in a common image (so a long soft seam is the cheapest join and two far-apart look-alikes come
   next), and at `ACROSS_FACTOR` when they come from different images. Size is weighed more gently
   than in Ward's price (the geometric mean of Ward's weight and the pictures' whole area): a small
   region that clearly differs is not absorbed just for being small. Prices are in units of the
   descriptors' total variance. Grouping stops when the cheapest join left costs more than
   `STOP_PRICE`, which chooses the number of labels; `GroupResult.reason` says so.

The grouping's settings were chosen on four hand-mapped cases (the Monet, the portrait pair and two
photographs) at four superpixel counts each, for a label count within one of the drawn one in all
sixteen and the best mean agreement; `ACROSS_FACTOR` then on the portrait pair and the tests' pair
of synthetic pictures. benchmarks/README.md (Automatic maps) has the figures.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from skimage import graph

REGIONS_PER_IMAGE = 15  # superpixels are joined into this many regions per image before labelling
GROW_BORDER_POWER = 2.0  # how strongly an edge along a border deters joining (first merge)
APART_FACTOR = 1.5  # the edge strength two regions of one image that share no border are priced at
# Regions of different images never share a border, so not touching says nothing about them: they
# are priced as across a border of median strength. (Priced as apart, the same texture in a picture
# and a photo stayed two labels: each image is centred on its own mean, which shifts its regions.)
ACROSS_FACTOR = 1.0
STOP_PRICE = 0.40  # joins dearer than this are not made (in units of the total descriptor variance)
MIN_BORDER_PIXELS = 20  # shorter borders are touching corners, not shared boundaries


def ward_price(mean_a: np.ndarray, size_a: float, mean_b: np.ndarray, size_b: float) -> float:
    """The increase in the sum of squared deviations about the means when two groups are joined."""
    return float(size_a * size_b / (size_a + size_b) * ((mean_a - mean_b) ** 2).sum())


def border_statistics(labels: np.ndarray, edges: np.ndarray) -> dict[tuple[int, int], tuple[float, int]]:
    """(a, b) with a < b -> (total edge strength, length in pixels) of the border between labels a and b."""
    if labels.min() == labels.max():
        return {}  # one label, no borders: rag_boundary fails on that (its max of no borders)
    rag = graph.rag_boundary(labels, edges)
    return {(min(a, b), max(a, b)): (data["weight"] * data["count"], data["count"])
            for a, b, data in rag.edges(data=True)}


def grow_regions(superpixels: np.ndarray, rows: np.ndarray, edges: np.ndarray,
                 count: int = REGIONS_PER_IMAGE) -> np.ndarray:
    """Superpixel -> region (0..R-1): neighbours joined, cheapest first, until `count` regions are left.

    `superpixels` is one image's (H, W) superpixel index (0..S-1), `rows` their (S, D) descriptors,
    `edges` the image's edge strength in units of its median. A priority queue holds the price of
    every shared border; prices made stale by a join are skipped when they come up.
    """
    total = len(rows)
    sizes = np.bincount(superpixels.ravel(), minlength=total).astype(np.float64)
    means = rows.astype(np.float64).copy()
    strength: dict[int, dict[int, float]] = {i: {} for i in range(total)}
    length: dict[int, dict[int, float]] = {i: {} for i in range(total)}
    for (a, b), (edge_sum, pixels) in border_statistics(superpixels, edges).items():
        strength[a][b] = strength[b][a] = edge_sum
        length[a][b] = length[b][a] = pixels

    def price(a: int, b: int) -> float:
        edge = strength[a][b] / length[a][b]
        return ward_price(means[a], sizes[a], means[b], sizes[b]) * edge ** GROW_BORDER_POWER

    version = np.zeros(total, dtype=np.int64)
    queue = [(price(a, b), a, b, 0, 0) for a in range(total) for b in strength[a] if a < b]
    heapq.heapify(queue)
    owner = np.arange(total)
    alive = total
    while alive > count and queue:
        _, a, b, seen_a, seen_b = heapq.heappop(queue)
        if seen_a != version[a] or seen_b != version[b] or owner[a] != a or owner[b] != b:
            continue  # a price from before one of the two last changed
        means[a] = (means[a] * sizes[a] + means[b] * sizes[b]) / (sizes[a] + sizes[b])
        sizes[a] += sizes[b]
        for other in list(strength[b]):
            if other == a:
                continue
            strength[a][other] = strength[other][a] = strength[a].get(other, 0.0) + strength[b][other]
            length[a][other] = length[other][a] = length[a].get(other, 0.0) + length[b][other]
            del strength[other][b], length[other][b]
        strength[a].pop(b, None)
        length[a].pop(b, None)
        strength[b], length[b] = {}, {}
        owner[owner == b] = a
        alive -= 1
        version[a] += 1
        for other in strength[a]:
            heapq.heappush(queue, (price(a, other), a, other, version[a], version[other]))
    _, compact = np.unique(owner, return_inverse=True)
    return compact


@dataclass(frozen=True)
class GroupResult:
    labels: np.ndarray  # region -> label, 0..K-1
    reason: str  # why grouping stopped where it did
    prices: list[float]  # the price of each join made, in order, as a share of the total variance


def group_regions(means: np.ndarray, sizes: np.ndarray, borders: dict[tuple[int, int], tuple[float, int]],
                  total_variance: float, target: int | None, max_labels: int,
                  images: np.ndarray | None = None) -> GroupResult:
    """Region -> label: regions of all images grouped, cheapest join first (see the module's notes).

    `means` (R, D) and `sizes` (R,) describe the regions; `borders` maps (a, b), a < b, to the total
    edge strength and the length of their shared border; `total_variance` is the sum of squared
    deviations of the superpixels' descriptors about their overall mean, each superpixel counted by
    its pixels: the unit of prices.
    `target`, when given, is the number of labels to stop at instead. `images` (R,) says which image
    each region is in (None: all in one).
    """
    count = len(means)
    means = means.astype(np.float64).copy()
    sizes = sizes.astype(np.float64).copy()
    area = sizes.sum()  # the pictures' whole area: constant while regions join
    strength, length = np.zeros((count, count)), np.zeros((count, count))
    for (a, b), (edge_sum, pixels) in borders.items():
        strength[a, b] = strength[b, a] = edge_sum
        length[a, b] = length[b, a] = pixels
    # Which images each group has regions in: two groups that share an image and no border are apart.
    images = np.zeros(count, dtype=np.int64) if images is None else np.asarray(images)
    member = np.zeros((count, int(images.max()) + 1 if count else 1), dtype=bool)
    member[np.arange(count), images] = True
    owner = np.arange(count)
    alive = np.ones(count, dtype=bool)
    stop = target or 1
    reason = ""
    prices_paid: list[float] = []
    if total_variance <= 0 or not np.isfinite(means).all():
        stop = count  # nothing to tell regions apart by (a flat picture): no join is better than another
        reason = "the pictures show no differences to group by"
    while alive.sum() > stop:
        live = np.flatnonzero(alive)
        gaps = ((means[live, None] - means[None, live]) ** 2).sum(-1)
        ward = sizes[live, None] * sizes[None, live] / (sizes[live, None] + sizes[None, live])
        weight = np.sqrt(ward * area)
        same_image = member[live].astype(np.int64) @ member[live].T.astype(np.int64) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            shared = length[np.ix_(live, live)]
            apart = np.where(same_image, APART_FACTOR, ACROSS_FACTOR)
            edge = np.where(shared >= MIN_BORDER_PIXELS, strength[np.ix_(live, live)] / shared, apart)
        prices = weight * gaps * edge / total_variance
        np.fill_diagonal(prices, np.inf)
        i, j = np.unravel_index(np.argmin(prices), prices.shape)
        cheapest = prices[i, j]
        if target is None and cheapest > STOP_PRICE and alive.sum() <= max_labels:
            reason = (f"stopped at {alive.sum()} labels: the two most alike left differ too much to join "
                      f"(price {cheapest:.2f}, limit {STOP_PRICE})")
            break
        prices_paid.append(float(cheapest))
        keep, gone = live[i], live[j]
        means[keep] = (means[keep] * sizes[keep] + means[gone] * sizes[gone]) / (sizes[keep] + sizes[gone])
        sizes[keep] += sizes[gone]
        sizes[gone] = 0
        member[keep] |= member[gone]
        strength[keep] += strength[gone]
        strength[:, keep] += strength[:, gone]
        length[keep] += length[gone]
        length[:, keep] += length[:, gone]
        strength[gone] = strength[:, gone] = length[gone] = length[:, gone] = 0
        strength[keep, keep] = length[keep, keep] = 0
        owner[owner == gone] = keep
        alive[gone] = False
    else:
        left = int(alive.sum())
        if reason:
            pass  # nothing to group by, said above
        elif target is not None:
            reason = (f"stopped at {left} labels, as asked" if left == target
                      else f"the pictures gave only {left} regions")
        else:
            reason = "every region looked alike, so the pictures got one label"
    _, compact = np.unique(owner, return_inverse=True)
    return GroupResult(compact, reason, prices_paid)
