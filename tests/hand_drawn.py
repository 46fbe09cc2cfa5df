"""Maps drawn by hand for two of scikit-image's photographs, so that automatic maps are measured on
pictures other than the one sample painting that has a map (a criterion tuned on one picture can
be fitted to it).

Each map is a list of shapes painted in order over a background label, in the picture's own pixel
coordinates, traced by eye over the photograph the way a painter would draw a doodle: one label per
material, edges within a few pixels. `draw(name)` returns the photograph (float RGB in [0, 1]), its
(H, W) label image and the labels' names.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# name -> (scikit-image loader, labels in order, shapes). A shape is (label, "ellipse", (x0, y0, x1, y1))
# or (label, "polygon", [(x, y), ...]); later shapes cover earlier ones; label 0 is the background.
MAPS = {
    # An espresso on a wooden table: wood, red china (saucer, cup body, handle), the cup's white
    # rim, the coffee, the steel spoon.
    "coffee": ("coffee", ["table", "red china", "white rim", "coffee", "spoon"], [
        (1, "ellipse", (78, 66, 479, 390)),
        (2, "ellipse", (173, 14, 409, 212)),
        (3, "ellipse", (204, 95, 380, 195)),
        (4, "polygon", [(405, 66), (422, 72), (390, 238), (379, 236)]),
        (4, "ellipse", (324, 238, 406, 324)),
    ]),
    # A cat's face against a blurred room: fur, the background, the eyes, the nose.
    "chelsea": ("chelsea", ["fur", "background", "eyes", "nose"], [
        (1, "polygon", [(400, 0), (451, 0), (451, 300), (325, 300), (335, 240), (348, 190), (357, 140),
                        (360, 80), (375, 45), (395, 10)]),
        (2, "ellipse", (133, 83, 205, 145)),
        (2, "ellipse", (294, 109, 342, 161)),
        (3, "ellipse", (243, 226, 282, 258)),
    ]),
}


def draw(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The photograph, its hand-drawn label image and the labels' names."""
    import skimage.data

    loader, names, shapes = MAPS[name]
    photo = getattr(skimage.data, loader)()
    canvas = Image.new("L", (photo.shape[1], photo.shape[0]), 0)
    pen = ImageDraw.Draw(canvas)
    for label, kind, where in shapes:
        if kind == "ellipse":
            pen.ellipse(where, fill=label)
        else:
            pen.polygon(where, fill=label)
    return photo.astype(np.float32) / 255.0, np.asarray(canvas, dtype=np.int64), names
