"""How well automatic maps agree with the hand-drawn sample maps, and how long they take.

    .venv/bin/python benchmarks/segment.py            # the table
    .venv/bin/python benchmarks/segment.py --sweep    # plus the cluster method across superpixel counts

Agreement is the adjusted Rand index (ARI) of the automatic labels against the hand-drawn ones, at
the image's own size; for a pair of images it is computed over both images' pixels together, so
labels must correspond across the pair to score. The baseline is plain colour k-means (CIELAB
pixels, scipy's k-means++, best of 5 seeds) with as many clusters as the hand-drawn map has labels.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from skimage.color import rgb2lab
from skimage.transform import resize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine  # noqa: E402

from doodle.encoder import load_encoder  # noqa: E402
from doodle.images import read_image, read_map  # noqa: E402
from doodle.metrics import adjusted_rand_index  # noqa: E402
from doodle.samples import samples_dir  # noqa: E402
from doodle.semantic import label_maps  # noqa: E402
from segmentation import cluster as cluster_module  # noqa: E402
from segmentation import segment  # noqa: E402
from segmentation.portrait import available as portrait_available  # noqa: E402

SAMPLES = samples_dir()
CASES = {"Monet": (["Monet.jpg"], ["Monet_sem.png"]),
         "Gogh + Seth": (["Gogh.jpg", "Seth.jpg"], ["Gogh_sem.png", "Seth_sem.png"])}


def colour_kmeans(images: list[np.ndarray], clusters: int) -> list[np.ndarray]:
    pixels = [rgb2lab(image).reshape(-1, 3) for image in images]
    labels = cluster_module.kmeans(np.concatenate(pixels).astype(np.float64), clusters)
    splits = np.cumsum([len(p) for p in pixels])[:-1]
    return [part.reshape(image.shape[:2]) for part, image in zip(np.split(labels, splits), images)]


def agreement(labels: list[np.ndarray], drawn: list[np.ndarray]) -> tuple[float, list[float]]:
    drawn = [resize(d, a.shape, order=0, preserve_range=True, anti_aliasing=False) for d, a in zip(drawn, labels)]
    joint = adjusted_rand_index(np.concatenate([a.ravel() for a in labels]), np.concatenate([d.ravel() for d in drawn]))
    return joint, [adjusted_rand_index(a, d) for a, d in zip(labels, drawn)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true", help="also run the cluster method at 600-1200 superpixels")
    arguments = parser.parse_args()
    if not SAMPLES.exists():
        sys.exit(f"{SAMPLES}: the sample images are not here; set DOODLE_SAMPLES to their folder")
    encoder = load_encoder("auto")
    command = "python benchmarks/segment.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"- Machine: {machine()}\n- Command: `{command.strip()}`\n- Date: {datetime.date.today()}\n")
    print("| images | method | labels | ARI together | ARI per image | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case, (names, maps) in CASES.items():
        images = [read_image(SAMPLES / name) for name in names]
        drawn = label_maps([read_map(SAMPLES / name) for name in maps])
        runs = [("colour k-means", lambda: (colour_kmeans(images, drawn.count), drawn.count))]
        methods = ["cluster"] + (["portrait"] if portrait_available() and len(names) > 1 else [])
        for method in methods:
            def run(method=method):
                result = segment(images, method=method, encoder=encoder)
                return result.labels, result.count
            runs.append((method, run))
        if arguments.sweep:
            for count in (600, 800, 1000, 1200):
                def run(count=count):
                    saved = cluster_module.SUPERPIXELS
                    cluster_module.SUPERPIXELS = count
                    try:
                        result = segment(images, method="cluster", encoder=encoder)
                    finally:
                        cluster_module.SUPERPIXELS = saved
                    return result.labels, result.count
                runs.append((f"cluster, {count} superpixels", run))
        for name, run in runs:
            started = time.perf_counter()
            labels, count = run()
            seconds = time.perf_counter() - started
            joint, each = agreement(labels, drawn.labels)
            print(f"| {case} | {name} | {count} | {joint:.3f} | {', '.join(f'{v:.3f}' for v in each)} | {seconds:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
