"""Portrait maps from MediaPipe's face mesh and selfie segmentation (`pip install 'doodle[portrait]'`).

mediapipe 0.10.14 ships both models inside its wheel, so this works offline. The selfie model says
which pixels are the person; the face mesh's 478 landmarks outline the face, eyes, eyebrows and
lips. Hair is the person above the chin that is neither face nor skin-coloured; clothing and body
are the person below the chin; skin-coloured pixels next to the face (ears, neck) count as skin.
Labels have fixed colours, so maps of different portraits always agree, and they follow the
convention of the hand-drawn sample maps (red background, blue clothing, green skin, yellow hair).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

import numpy as np
from scipy.spatial import ConvexHull
from skimage.color import rgb2lab
from skimage.draw import polygon
from skimage.morphology import disk, opening

from .cleanup import remove_specks
from .result import Segmentation, SegmentationUnavailable

# Label order is paint order: a later label wins where two overlap (eyes are drawn over skin).
PORTRAIT_LABELS: dict[str, tuple[int, int, int]] = {
    "background": (255, 0, 0),
    "clothing": (0, 0, 255),
    "hair": (255, 255, 0),
    "skin": (0, 255, 0),
    "eyebrows": (128, 64, 0),
    "eyes": (191, 191, 191),
    "lips": (255, 0, 255),
}
INSTALL_HINT = ("pip install 'doodle[portrait]' (mediapipe 0.10.14, the last release that ships its face "
                "models; it needs Python 3.12 or older)")
PERSON_THRESHOLD = 0.5
# A pixel beside the face is skin when its CIELAB colour is this close to the face's median colour.
SKIN_DISTANCE = 14.0
# Where ears and neck can be, in face heights: from this far above the chin to this far below it,
# and this far beyond the face's sides.
SKIN_BAND_ABOVE, SKIN_BAND_BELOW, SKIN_BAND_SIDE = 0.6, 0.5, 0.25


class NoFace(SegmentationUnavailable):
    """An image in which the face mesh finds no face."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: no face found, so the portrait method cannot map it; use --method cluster")
        self.name = name


def _mediapipe():
    """The mediapipe module, with its C++ logging quietened, or a one-line install hint."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import mediapipe
        from mediapipe.python.solutions import face_mesh, selfie_segmentation  # noqa: F401
    except ImportError:
        raise SegmentationUnavailable(f"the portrait method needs mediapipe: {INSTALL_HINT}") from None
    return mediapipe


def available() -> bool:
    """Whether the portrait method can run here."""
    try:
        _mediapipe()
    except SegmentationUnavailable:
        return False
    return True


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """MediaPipe's C++ side prints TensorFlow Lite banners straight to file descriptor 2, and its
    Python side a deprecation warning; neither means anything to a user."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull, warnings.catch_warnings():
            # mediapipe 0.10.14 calls a protobuf method that protobuf 4.25 marks as deprecated.
            warnings.filterwarnings("ignore", message=".*GetPrototype", category=UserWarning)
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _indices(connections) -> np.ndarray:
    return np.array(sorted({index for edge in connections for index in edge}))


def _hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled convex hull of (x, y) points."""
    mask = np.zeros(shape, dtype=bool)
    if len(points) < 3:
        return mask
    corners = points[ConvexHull(points).vertices]
    rows, columns = polygon(corners[:, 1], corners[:, 0], shape)
    mask[rows, columns] = True
    return mask


def face_parts(pixels: np.ndarray) -> dict[str, np.ndarray] | None:
    """Masks of one face's oval, eyes, eyebrows and lips (the first the mesh finds), or None."""
    mediapipe = _mediapipe()
    mesh = mediapipe.solutions.face_mesh
    with _quiet_native_stderr(), mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                               refine_landmarks=True, min_detection_confidence=0.5) as model:
        found = model.process(pixels)
    if not found.multi_face_landmarks:
        return None
    height, width = pixels.shape[:2]
    landmarks = np.array([(p.x * width, p.y * height) for p in found.multi_face_landmarks[0].landmark])
    shape = (height, width)

    def part(*connection_sets) -> np.ndarray:
        mask = np.zeros(shape, dtype=bool)
        for connections in connection_sets:
            mask |= _hull_mask(landmarks[_indices(connections)], shape)
        return mask

    return {
        "face": part(mesh.FACEMESH_FACE_OVAL),
        "eyes": part(mesh.FACEMESH_LEFT_EYE, mesh.FACEMESH_RIGHT_EYE),
        "eyebrows": part(mesh.FACEMESH_LEFT_EYEBROW, mesh.FACEMESH_RIGHT_EYEBROW),
        "lips": part(mesh.FACEMESH_LIPS),
    }


def person_mask(pixels: np.ndarray) -> np.ndarray:
    """Pixels that belong to the person (MediaPipe's selfie segmentation)."""
    mediapipe = _mediapipe()
    with _quiet_native_stderr(), mediapipe.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as model:
        probability = model.process(pixels).segmentation_mask
    return opening(probability > PERSON_THRESHOLD, disk(2))


def portrait_labels(image: np.ndarray, parts: dict[str, np.ndarray], person: np.ndarray) -> np.ndarray:
    """(H, W) indices into PORTRAIT_LABELS for one image, from its face parts and person mask."""
    names = list(PORTRAIT_LABELS)
    face = parts["face"]
    rows = np.flatnonzero(face.any(axis=1))
    columns = np.flatnonzero(face.any(axis=0))
    top, chin = rows[0], rows[-1]
    left, right = columns[0], columns[-1]
    face_height, face_width = chin - top + 1, right - left + 1

    lab = rgb2lab(image)
    inner_face = face & ~(parts["eyes"] | parts["eyebrows"] | parts["lips"])
    skin_colour = np.median(lab[inner_face], axis=0)
    skin_like = np.linalg.norm(lab - skin_colour, axis=-1) < SKIN_DISTANCE
    row_index, column_index = np.mgrid[0: image.shape[0], 0: image.shape[1]]
    near_face = ((row_index > chin - SKIN_BAND_ABOVE * face_height)
                 & (row_index < chin + SKIN_BAND_BELOW * face_height)
                 & (column_index > left - SKIN_BAND_SIDE * face_width)
                 & (column_index < right + SKIN_BAND_SIDE * face_width))
    person = person | face  # the selfie model sometimes trims a painted face's edge

    labels = np.full(image.shape[:2], names.index("background"), dtype=np.int64)
    labels[person & (row_index > chin)] = names.index("clothing")
    labels[person & (row_index <= chin)] = names.index("hair")
    labels[person & skin_like & near_face] = names.index("skin")
    labels[face] = names.index("skin")
    # Stray skin-coloured threads in clothing and hair are noise; the small face parts drawn next
    # are not, so specks go before them.
    labels = remove_specks(labels)
    for name in ("eyebrows", "eyes", "lips"):
        labels[parts[name]] = names.index(name)
    return labels


def portrait_segment(images: list[np.ndarray], names: list[str] | None = None) -> Segmentation:
    """Portrait maps for `images` (float RGB in [0, 1]); raises NoFace when an image shows none."""
    _mediapipe()
    names = names or [f"image {index + 1}" for index in range(len(images))]
    labels = []
    for image, name in zip(images, names):
        pixels = np.ascontiguousarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
        parts = face_parts(pixels)
        if parts is None:
            raise NoFace(name)
        labels.append(portrait_labels(image, parts, person_mask(pixels)))
    palette = np.array(list(PORTRAIT_LABELS.values()), dtype=np.uint8)
    return Segmentation("portrait", list(PORTRAIT_LABELS), palette, labels)
