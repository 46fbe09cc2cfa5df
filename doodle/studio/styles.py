"""The styles a studio session paints in: a painting, its label map (the one drawn beside it, or
one made by `segmentation`), the palette its brushes use, and the trained model that previews it.

Everything here is plain data and pure functions over files; the browser never reaches it
directly (see `session.py`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DoodleError
from ..images import check_map_matches, read_image, read_map, resize_map, sidecar_map_path
from ..request import present_sidecar
from ..semantic import label_maps

CANVAS_SIDE = 512  # the canvas's longer side, in map pixels: the size `doodle paint` works at by default
PAINTING_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Names for the legend's brushes: a label is called by the nearest of these (a map's colours are
# usually pure ones), which reads better than "#ff331f".
NAMED_COLOURS = {
    "white": (255, 255, 255), "light grey": (192, 192, 192), "grey": (128, 128, 128), "black": (0, 0, 0),
    "red": (255, 0, 0), "dark red": (150, 0, 0), "orange": (255, 140, 0), "yellow": (255, 255, 0),
    "olive": (128, 128, 0), "green": (0, 255, 0), "dark green": (0, 120, 0), "cyan": (0, 255, 255),
    "teal": (0, 128, 128), "sky blue": (120, 190, 240), "blue": (0, 0, 255), "navy": (0, 0, 128),
    "magenta": (255, 0, 255), "purple": (128, 0, 128), "pink": (255, 170, 200), "brown": (140, 80, 20),
}


@dataclass(frozen=True)
class StudioStyle:
    """A painting to copy and its map, as the brushes see it: label k is drawn in `palette[k]`."""

    name: str
    painting: Path
    labels: np.ndarray  # (H, W) label indices at the painting's size
    palette: np.ndarray  # (K, 3) uint8 colours, one per label
    names: tuple[str, ...]  # one per label: what the legend shows
    sha256: str  # of the painting file: how a trained model is matched to it
    map_origin: str  # "drawn" (its map file), "made" (segmentation), "edited" (corrected here), "uploaded"

    @property
    def style_map(self) -> np.ndarray:
        return self.palette[self.labels]

    @property
    def background(self) -> int:
        """The label a blank canvas starts with and the eraser paints: the style's largest region."""
        return int(np.bincount(self.labels.ravel(), minlength=len(self.palette)).argmax())

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the canvas: the painting's aspect, CANVAS_SIDE on the longer side."""
        height, width = self.labels.shape
        scale = CANVAS_SIDE / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def canvas_labels(self) -> np.ndarray:
        """The style's own map at the canvas's size: "start from the style's map"."""
        return resize_map(self.labels.astype(np.uint8), self.canvas_size).astype(np.int64)

    def edited(self, canvas_labels: np.ndarray) -> StudioStyle:
        """This style with its map replaced by one corrected on the canvas (scaled to the painting)."""
        height, width = self.labels.shape
        labels = resize_map(canvas_labels.astype(np.uint8), (width, height)).astype(np.int64)
        return replace(self, labels=labels, map_origin="edited")

    def with_map(self, drawn: np.ndarray, map_name: str) -> StudioStyle:
        """This painting with a map drawn for it elsewhere (RGB uint8): its colours become the labels."""
        height, width = self.labels.shape
        check_map_matches((height, width), drawn.shape, self.painting.name, map_name)
        labelling = label_maps([drawn])
        labels = resize_map(labelling.labels[0].astype(np.uint8), (width, height)).astype(np.int64)
        return replace(self, labels=labels, palette=labelling.palette, names=colour_words(labelling.palette),
                       map_origin="uploaded")


def colour_words(palette: np.ndarray) -> tuple[str, ...]:
    """A legend name for each label colour: the nearest named colour, numbered where two share one."""
    names, colours = list(NAMED_COLOURS), np.array(list(NAMED_COLOURS.values()), dtype=np.float32)
    nearest = [names[int(((colours - colour.astype(np.float32)) ** 2).sum(1).argmin())] for colour in palette]
    return tuple(name if nearest.count(name) == 1 else f"{name} {nearest[:index + 1].count(name)}"
                 for index, name in enumerate(nearest))


def gallery(folder: Path | None) -> list[Path]:
    """The paintings in `folder` that have a map beside them (X.jpg with X_sem.png), by name."""
    if folder is None:
        return []
    paintings = [path for path in sorted(folder.iterdir()) if path.suffix.lower() in PAINTING_SUFFIXES
                 and not path.stem.endswith("_sem") and path.is_file()]
    return [path for path in paintings if present_sidecar(path) is not None]


def _sha256(path: Path) -> str:
    from ..weights import file_sha256

    return file_sha256(path)


def load_style(painting: Path, map_path: Path | None = None) -> StudioStyle:
    """A painting with its drawn map (default: the sidecar X_sem.png); DoodleError when either cannot
    be read or they do not line up."""
    map_path = map_path or sidecar_map_path(painting)
    image, drawn = read_image(painting), read_map(map_path)
    check_map_matches(image.shape, drawn.shape, str(painting), str(map_path))
    labelling = label_maps([drawn])
    labels = labelling.labels[0]
    if labels.shape != image.shape[:2]:  # a map drawn at another resolution of the same picture
        labels = resize_map(labels.astype(np.uint8), (image.shape[1], image.shape[0])).astype(np.int64)
    return StudioStyle(painting.stem, painting, labels, labelling.palette, colour_words(labelling.palette),
                       _sha256(painting), "drawn")


def made_style(painting: Path, on_note: Callable[[str], None] | None = None, name: str | None = None) -> StudioStyle:
    """A painting without a map, mapped by `segmentation` (the map the user then corrects); `name`
    is what the user called it (default: the file's stem)."""
    from segmentation import segment

    image = read_image(painting)
    made = segment([painting], on_note=on_note)
    present = made.present  # labels the picture uses, renumbered 0..K-1 so that every brush paints something
    renumber = np.zeros(len(made.palette), dtype=np.int64)
    renumber[present] = np.arange(len(present))
    labels = renumber[made.labels[0]]
    if labels.shape != image.shape[:2]:
        raise DoodleError(f"{painting}: segmentation gave a map of another size; report this")
    palette = made.palette[present]
    # Named regions (hair, skin) keep their names; numbered clusters are called by their colour.
    names = tuple(made.names[label] if not made.names[label].startswith("region") else word
                  for label, word in zip(present, colour_words(palette)))
    return StudioStyle(name or painting.stem, painting, labels, palette, names, _sha256(painting), "made")


def matching_model(models: Sequence[Path], style: StudioStyle) -> Path | None:
    """The newest doodle model trained on this very painting with these label colours, if any."""
    from ..feedforward.models import peek_info

    # The labels the map uses: one painted out of a corrected map is not among a model's labels.
    wanted = {tuple(int(c) for c in style.palette[label]) for label in np.unique(style.labels)}
    found = []
    for path in models:
        info = peek_info(path)
        if (info is not None and info.kind == "doodle" and info.style.get("sha256") == style.sha256
                and {tuple(colour) for colour in info.palette} == wanted):
            found.append(path)
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def model_files(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(path for path in folder.glob("*.doodle") if path.is_file())
