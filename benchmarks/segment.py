"""How well automatic maps agree with hand-drawn maps, and how long they take.

    .venv/bin/python benchmarks/segment.py            # the table
    .venv/bin/python benchmarks/segment.py --sweep    # plus the cluster method across superpixel counts

The hand-drawn maps are the shared samples' (the Monet; the Gogh and Seth portrait pair) and two
drawn over scikit-image's photographs in tests/hand_drawn.py (an espresso cup, a cat's face), so that
a setting tuned on the one painting shows whether it carries over. Agreement is measured at each
image's own size:
- the adjusted Rand index (ARI); for a pair it is computed over both images' pixels together, so
  labels must correspond across the pair to score;
- the boundary score (doodle.metrics.boundary_score): precision and recall of the map's borders
  against the hand-drawn borders within 3 pixels, and their F-score;
- the number of labels against the number drawn.
The baseline is plain colour k-means (CIELAB pixels, scipy's k-means++, best of 5 seeds) with as many
clusters as the hand-drawn map has labels; "cluster, nearest edges" is the cluster method with its
labels scaled up by nearest neighbour instead of refined by colour at full size. The samples are
small (the Monet is 512x384, barely above the 384 px working size), so "Monet x3" also runs the
Monet scaled up three times (bicubic, 1536x1152, its map by nearest neighbour): the case where
stair-steps 3 px wide would show.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2
from skimage.color import rgb2lab
from skimage.transform import rescale, resize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from bench import machine  # noqa: E402
from hand_drawn import draw  # noqa: E402

from doodle.encoder import load_encoder  # noqa: E402
from doodle.images import read_image, read_map  # noqa: E402
from doodle.metrics import adjusted_rand_index, boundary_score  # noqa: E402
from doodle.samples import samples_dir  # noqa: E402
from doodle.semantic import label_maps  # noqa: E402
from segmentation import cluster as cluster_module  # noqa: E402
from segmentation import segment  # noqa: E402
from segmentation.portrait import available as portrait_available  # noqa: E402

SAMPLES = samples_dir()
SAMPLE_CASES = {"Monet": (["Monet.jpg"], ["Monet_sem.png"]),
                "Gogh + Seth": (["Gogh.jpg", "Seth.jpg"], ["Gogh_sem.png", "Seth_sem.png"])}
DRAWN_CASES = ("coffee", "chelsea")
KMEANS_SEEDS = 5
UPSCALE = 3


def cases() -> dict[str, tuple[list[np.ndarray], list[np.ndarray], int]]:
    """Name -> (images, hand-drawn label images, number of labels drawn)."""
    found = {}
    for case, (names, maps) in SAMPLE_CASES.items():
        drawn = label_maps([read_map(SAMPLES / name) for name in maps])
        found[case] = ([read_image(SAMPLES / name) for name in names], drawn.labels, drawn.count)
        if case == "Monet":
            large = np.clip(rescale(found[case][0][0], UPSCALE, order=3, channel_axis=2), 0, 1).astype(np.float32)
            found[f"Monet x{UPSCALE}"] = ([large], [np.kron(drawn.labels[0], np.ones((UPSCALE, UPSCALE), np.int64))],
                                          drawn.count)
            for name in DRAWN_CASES:
                photo, labels, label_names = draw(name)
                found[name] = ([photo], [labels], len(label_names))
    return found


def colour_kmeans(images: list[np.ndarray], clusters: int) -> list[np.ndarray]:
    pixels = [rgb2lab(image).reshape(-1, 3) for image in images]
    rows = np.concatenate(pixels).astype(np.float64)
    best, best_distortion = None, np.inf
    for seed in range(KMEANS_SEEDS):
        centroids, labels = kmeans2(rows, clusters, minit="++", seed=seed)
        distortion = ((rows - centroids[labels]) ** 2).sum()
        if distortion < best_distortion:
            best, best_distortion = labels, distortion
    splits = np.cumsum([len(p) for p in pixels])[:-1]
    return [part.reshape(image.shape[:2]) for part, image in zip(np.split(best, splits), images)]


def agreement(labels: list[np.ndarray], drawn: list[np.ndarray]) -> tuple[float, list[float], list]:
    drawn = [resize(d, a.shape, order=0, preserve_range=True, anti_aliasing=False) for d, a in zip(drawn, labels)]
    joint = adjusted_rand_index(np.concatenate([a.ravel() for a in labels]), np.concatenate([d.ravel() for d in drawn]))
    return joint, [adjusted_rand_index(a, d) for a, d in zip(labels, drawn)], [
        boundary_score(a, d) for a, d in zip(labels, drawn)]


def nearest_edges(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    return resize(labels, image.shape[:2], order=0, preserve_range=True, anti_aliasing=False).astype(labels.dtype)


def with_setting(name: str, value, run):
    saved = getattr(cluster_module, name)
    setattr(cluster_module, name, value)
    try:
        return run()
    finally:
        setattr(cluster_module, name, saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true", help="also run the cluster method at 600-1200 superpixels")
    arguments = parser.parse_args()
    if not SAMPLES.exists():
        sys.exit(f"{SAMPLES}: the sample images are not here; set DOODLE_SAMPLES to their folder")
    encoder = load_encoder("auto")
    command = "python benchmarks/segment.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"- Machine: {machine()}\n- Command: `{command.strip()}`\n- Date: {datetime.date.today()}\n")
    print("| images | method | labels (drawn) | ARI together | ARI per image | boundary F (precision, recall) "
          "| seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    reasons = []
    for case, (images, drawn, drawn_count) in cases().items():
        runs = [("colour k-means", lambda: (colour_kmeans(images, drawn_count), drawn_count))]

        def cluster(case=case, images=images):
            result = segment(images, method="cluster", encoder=encoder)
            reasons.append(f"{case}: {result.reason}")
            return result.labels, result.count

        def plain(images=images):
            result = segment(images, method="cluster", encoder=encoder)
            return result.labels, result.count

        runs += [("cluster", cluster), ("cluster, nearest edges", lambda: with_setting("refine_labels", nearest_edges,
                                                                                        plain))]
        if portrait_available() and len(images) > 1:
            def portrait(images=images):
                result = segment(images, method="portrait", encoder=encoder)
                return result.labels, result.count
            runs.append(("portrait", portrait))
        if arguments.sweep:
            for count in (600, 800, 1000, 1200):
                runs.append((f"cluster, {count} superpixels",
                             lambda count=count: with_setting("SUPERPIXELS", count, plain)))
        for name, run in runs:
            started = time.perf_counter()
            labels, count = run()
            seconds = time.perf_counter() - started
            joint, each, borders = agreement(labels, drawn)
            boundary = ", ".join(f"{b.f:.3f} ({b.precision:.2f}, {b.recall:.2f})" for b in borders)
            print(f"| {case} | {name} | {count} ({drawn_count}) | {joint:.3f} | {', '.join(f'{v:.3f}' for v in each)} "
                  f"| {boundary} | {seconds:.1f} |", flush=True)
    print("\nWhy the cluster method stopped where it did:\n")
    for reason in reasons:
        print(f"- {reason}")


if __name__ == "__main__":
    main()
