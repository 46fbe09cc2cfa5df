"""The studio's state: one `Studio` per server (its folders, its one training at a time, loaded
models) and one `StudioSession` per browser tab (the style, the doodle, the runs under way, and a
temporary folder removed when the tab goes). The web page (`app.py`) only translates clicks and
strokes into these calls; the rules live here and in the request layer they use."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import request as requests
from ..errors import DoodleError
from ..images import sidecar_map_path, to_uint8, write_image
from ..request import PaintRequest, paint_request
from ..results import write_result
from .drawing import canvas_labels, canvas_setup, read_upload, uploaded_doodle
from .runs import BackgroundRun, StopAsked, progress_line
from .styles import StudioStyle, load_style, made_style, matching_model, model_files

QUICK_SIDE = 160  # the optimisation preview's longer side: a few seconds on a laptop's CPU
QUICK_SETTINGS = {"phases": 1, "iterations": 12, "final_iterations": 0}
PAINT_SIDES = (256, 384, 512, 768, 1024)  # the sizes "Paint" offers, by the longer side
DEFAULT_PAINT_SIDE = 512
TRAINING_SUFFIX = "-training.doodle"  # a model still in training (or stopped before its end)
UPLOAD_SIDE = 2048  # an uploaded painting is kept at most this large: the engine works smaller anyway


@dataclass(frozen=True)
class StudioSettings:
    styles: Path | None  # the gallery's folder
    models: Path  # where models are looked for, and trained into


class Studio:
    """What the sessions of one server share: settings, a temporary root, the one training run,
    and trained models loaded once."""

    def __init__(self, settings: StudioSettings) -> None:
        self.settings = settings
        self.root = Path(tempfile.mkdtemp(prefix="doodle-studio-"))
        self.sessions: dict[str, StudioSession] = {}
        self.training: BackgroundRun | None = None
        self.training_status = ""
        self._lock = threading.Lock()
        self._models: dict[Path, tuple[float, object]] = {}

    def session(self, key: str) -> StudioSession:
        with self._lock:
            if key not in self.sessions:
                self.sessions[key] = StudioSession(self, Path(tempfile.mkdtemp(prefix="session-", dir=self.root)))
            return self.sessions[key]

    def end_session(self, key: str) -> None:
        with self._lock:
            session = self.sessions.pop(key, None)
        if session is not None:
            session.close()

    def close(self, wait: float = 30.0) -> None:
        """Stop every run at its next safe point, give them `wait` seconds in all to end (a stopped
        training writes its model), and remove every tab's files, also when interrupted meanwhile."""
        with self._lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        runs = [run for run in [self.training] + [session.painting for session in sessions] if run is not None]
        try:
            for session in sessions:
                session.strokes += 1  # previews under way give up
            for run in runs:
                run.stop()
            deadline = time.monotonic() + wait
            for run in runs:
                run.wait(max(0.0, deadline - time.monotonic()))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def model(self, path: Path):
        """A trained model, loaded once and again only when its file changed (training writes it)."""
        from ..feedforward.models import Stylizer

        stamp = path.stat().st_mtime
        with self._lock:
            cached = self._models.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        model = Stylizer.load(path)
        with self._lock:
            self._models[path] = (stamp, model)
        return model

    def model_for(self, style: StudioStyle) -> Path | None:
        """The model that previews `style`; never one still in training (see `train`)."""
        return matching_model([path for path in model_files(self.settings.models)
                               if not path.name.endswith(TRAINING_SUFFIX)], style)

    def train(self, style: StudioStyle, map_path: Path, steps: int) -> str:
        """Start training a doodle model of `style` into the models folder, unless one is training."""
        from ..train_request import train, train_request

        with self._lock:
            if self.training is not None and self.training.running:
                raise DoodleError("a model is training already (one at a time); wait for it to finish")
            self.settings.models.mkdir(parents=True, exist_ok=True)
            # Trained under a name of its own, and moved to the model's name only once finished: the
            # checkpoints on the way never replace a good model in the previews.
            output = self.settings.models / f"{style.name}-{style.sha256[:8]}.doodle"
            staging = output.with_name(output.stem + TRAINING_SUFFIX)
            request = train_request(style.painting, staging, style_map=map_path, steps=steps, force=True,
                                    preview_every=0)

            def work(report) -> str:
                _, record = train(request, callback=lambda progress: report(progress))
                step = record.history[-1][0] if record.history else 0
                if record.interrupted:
                    return f"stopped at step {step}; the unfinished model is {staging} (not used for previews)"
                os.replace(staging, output)
                return f"trained {step} steps: {output.name}; previews of this style now follow every stroke"

            self.training = BackgroundRun(work, "studio-training")
            self.training_status = f"training {output.name}: starting"
            return self.training_status

    def training_line(self) -> str:
        """What the training is doing now, for the page to poll."""
        run = self.training
        if run is None:
            return ""
        if run.running:
            for progress in run.pending():
                done = progress.step / progress.steps
                left = progress.elapsed * (1 - done) / done if done > 0 else 0
                self.training_status = (f"training: step {progress.step}/{progress.steps}, "
                                        f"about {left / 60:.0f} min left")
            return self.training_status
        if run.error is not None and not isinstance(run.error, KeyboardInterrupt):
            return f"training failed: {run.error}"
        return run.result or "training stopped"


class StudioSession:
    """One browser tab: its style, its doodle (labels at the canvas's size), its runs."""

    def __init__(self, studio: Studio, folder: Path) -> None:
        self.studio = studio
        self.folder = folder
        self.style: StudioStyle | None = None
        self.doodle: np.ndarray | None = None
        self.editing_style_map = False
        self.strokes = 0  # counts every change of the drawing: a preview of an older one gives up
        self.canvas_sequence = 0  # the newest canvas snapshot taken (the page numbers them)
        self._drawing = threading.Lock()
        self.style_features: dict = {}  # the style's encoded features, shared by previews and paintings
        self.painting: BackgroundRun | None = None
        self._numbers = itertools.count(1)  # names this tab's files; next() is safe from several threads
        self.generation = 0  # counts the canvas's setups: a snapshot of an older one is dropped

    # --- choosing the style -------------------------------------------------------------------
    def _setup(self, start: np.ndarray, **extra) -> dict:
        """A new setup of the canvas, numbered: snapshots of the canvas before it no longer count."""
        with self._drawing:
            self.generation += 1
            self.strokes += 1
        setup = canvas_setup(self.require_style(), start, editing_style_map=self.editing_style_map)
        return {**setup, **extra, "generation": self.generation}

    def choose(self, style: StudioStyle) -> dict:
        self.style, self.style_features, self.editing_style_map = style, {}, False
        self.doodle = np.full(style.canvas_size[::-1], style.background, dtype=np.int64)
        return self._setup(self.doodle)

    def choose_file(self, painting: Path) -> dict:
        return self.choose(load_style(painting))

    def upload_painting(self, path: Path, shown_name: str, on_note=None) -> dict:
        """An uploaded painting: its map is the sidecar uploaded with it, else one made by segmentation,
        shown over the painting for correcting."""
        picture = Image.fromarray(to_uint8(read_upload(path, shown_name, "image")))
        picture.thumbnail((UPLOAD_SIDE, UPLOAD_SIDE), Image.Resampling.LANCZOS)  # only ever shrinks
        kept = self.folder / f"upload-{next(self._numbers)}.png"  # never over an earlier upload
        write_image(kept, np.asarray(picture))
        self.choose(made_style(kept, on_note, name=Path(shown_name).stem))
        return self.edit_style_map(True)

    def upload_style_map(self, path: Path, shown_name: str) -> dict:
        """A map drawn elsewhere for the style's painting (its own colours become the brushes)."""
        style = self.require_style()
        self.style, self.style_features = style.with_map(read_upload(path, shown_name, "map"), shown_name), {}
        self.doodle = np.full(self.style.canvas_size[::-1], self.style.background, dtype=np.int64)
        return self._setup(self.style.canvas_labels())

    def edit_style_map(self, editing: bool) -> dict:
        style = self.require_style()
        self.editing_style_map = editing
        return self._setup(style.canvas_labels() if editing else self.doodle)

    def require_style(self) -> StudioStyle:
        if self.style is None:
            raise DoodleError("choose a painting first (the gallery, or upload one)")
        return self.style

    # --- drawing ------------------------------------------------------------------------------
    def draw(self, url: str, sequence: int, generation: int) -> bool:
        """A new state of the canvas: the doodle, or (while editing it) the style's own map. Snapshots
        are handled side by side, so `sequence` (the page's count) keeps an older one from winning,
        and `generation` (the setup it was drawn on) one from before another style or mode: False
        when it was dropped for either."""
        style = self.require_style()
        if generation != self.generation or sequence <= self.canvas_sequence:
            return False
        labels = canvas_labels(url, style)
        with self._drawing:
            if generation != self.generation or sequence <= self.canvas_sequence:
                return False
            self.canvas_sequence = sequence
            if self.editing_style_map:
                self.style, self.style_features = style.edited(labels), {}
            else:
                self.doodle = labels
            self.strokes += 1
        return True

    def upload_doodle(self, path: Path, shown_name: str) -> dict:
        style = self.require_style()
        self.doodle, self.editing_style_map = uploaded_doodle(path, shown_name, style), False
        return self._setup(self.doodle, preview=True)

    def doodle_colours(self) -> np.ndarray:
        return self.require_style().palette[self.doodle].astype(np.uint8)

    # --- previews -----------------------------------------------------------------------------
    def model_preview(self) -> np.ndarray | None:
        """The trained model's painting of the doodle (a fraction of a second), or None without one."""
        from ..feedforward.painting import model_painting

        style = self.require_style()
        if self.editing_style_map:
            return None
        path = self.studio.model_for(style)
        if path is None:
            return None
        return model_painting(self.studio.model(path), self.doodle_colours(), None, as_uint8=True)

    def quick_preview(self) -> Iterator[np.ndarray]:
        """A small optimisation of the doodle, yielding the image as it forms; it gives up as soon
        as the drawing changes again (the next stroke's preview replaces it)."""
        if self.editing_style_map:
            return
        serial = self.strokes
        request = self.paint_request(QUICK_SIDE, None, QUICK_SETTINGS, "preview")

        def work(report):
            def callback(progress):
                if self.strokes != serial:
                    raise StopAsked()
                report(progress.image())
            return self._run(request, callback)

        run = BackgroundRun(work, "studio-preview")
        try:
            for image in run.updates():
                if self.strokes != serial:
                    run.stop()
                else:
                    yield to_uint8(image)
        finally:
            run.stop()  # a page that stopped listening (a closed tab) stops the work too
        result = run.result
        if run.error is None and result is not None and self.strokes == serial and not result.record.interrupted:
            yield to_uint8(result.image)

    def paint_request(self, side: int, preset: str | None, settings: dict, name: str) -> PaintRequest:
        """What `doodle paint` would be asked for this painting, the doodle and the style's map, at
        `side` pixels on the longer side: the request layer's rules (presets, sizes, maps) apply
        to the studio as to every door. Its files go to this tab's folder."""
        style = self.require_style()
        number = next(self._numbers)
        doodle = self.folder / f"run-{number}-doodle_sem.png"  # each run its own: strokes go on meanwhile
        write_image(doodle, self.doodle_colours())
        width, height = style.canvas_size
        scale = side / max(width, height)
        size = f"{max(1, round(width * scale))}x{max(1, round(height * scale))}"
        return paint_request([style.painting], self.folder / f"{style.name}-{name}-{number}.png", doodle=doodle,
                             style_maps=[self.style_map_file()], size=size, preset=preset, settings=settings,
                             force=True)

    def style_map_file(self) -> Path:
        """The style's map as a file: its own beside the painting, else the made or corrected one."""
        style = self.require_style()
        if style.map_origin == "drawn":
            return sidecar_map_path(style.painting)
        # Named by its content: the same map is written once, a corrected one never mistaken for it.
        digest = hashlib.sha256(style.labels.astype(np.uint8).tobytes() + style.palette.tobytes()).hexdigest()[:16]
        path = self.folder / f"{style.name}-{digest}_sem.png"
        if not path.exists():
            write_image(path, style.style_map)
        return path

    def _run(self, request: PaintRequest, callback):
        try:
            return requests.run(request, callback=callback, style_features=self.style_features)
        finally:
            request.target_map.unlink(missing_ok=True)

    # --- painting -----------------------------------------------------------------------------
    def paint(self, side: int, preset: str | None) -> Iterator[tuple[np.ndarray | None, str, Path | None]]:
        """The full optimisation at `side` pixels on the longer side: yields (image so far, progress
        line, the PNG to download once there is one)."""
        if self.painting is not None and self.painting.running:
            raise DoodleError("a painting is under way in this tab; stop it first")
        if self.editing_style_map:
            raise DoodleError("the canvas shows the style's map; untick \"Edit the style's map\" and draw the doodle "
                              "to paint")
        if side not in PAINT_SIDES:
            raise DoodleError(f"size {side}: choose one of {', '.join(map(str, PAINT_SIDES))}")
        request = self.paint_request(side, preset, {}, "painting")
        size = request.size

        def work(report):
            # The image is copied out at once: the optimiser goes on changing its pixels in place.
            return self._run(request, lambda progress: report((progress.image(), progress_line(progress))))

        self.painting = run = BackgroundRun(work, "studio-painting")
        notes = "".join(f"; {note}" for note in request.notes)
        yield None, f"painting {size[0]}x{size[1]}: loading the network and the style{notes}", None
        try:
            for image, line in run.updates():
                yield to_uint8(image), line, None
        finally:
            run.stop()  # a page that stopped listening (a closed tab) stops the painting too
        if run.error is not None and not isinstance(run.error, KeyboardInterrupt):
            raise run.error
        result = run.result
        if result is None:
            yield None, "stopped before the first image", None
            return
        path = write_result(request, result.image)
        state = "stopped early; the painting so far" if result.record.interrupted else "done"
        yield to_uint8(result.image), f"{state}: {size[0]}x{size[1]} in {result.record.seconds:.0f} s", path

    def stop(self) -> str:
        if self.painting is not None and self.painting.running:
            self.painting.stop()
            return "stopping after this evaluation"
        return "nothing is painting"

    def train(self, steps: int) -> str:
        return self.studio.train(self.require_style(), self.style_map_file(), steps)

    def close(self, wait: float = 30.0) -> None:
        self.strokes += 1  # a preview under way gives up
        try:
            if self.painting is not None:
                self.painting.stop()
                self.painting.wait(wait)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
