"""The studio's web page (Gradio): a gallery of paintings, the drawing canvas, the live preview,
and the full painting with its progress. Each handler finds its tab's `StudioSession` and
translates; errors become a message in the page, never a dead server."""

from __future__ import annotations

import functools
import inspect
import json
import logging
from importlib import resources
from pathlib import Path

import gradio as gr

from ..config import presets
from ..errors import DoodleError
from .session import DEFAULT_PAINT_SIDE, PAINT_SIDES, Studio
from .styles import gallery

log = logging.getLogger("doodle.studio")

CANVAS_HTML = """
<div class="studio-canvas">
  <div class="legend"></div>
  <div class="tools">
    <label>brush size <input class="brush-size" type="range" min="2" max="96" value="24"></label>
    <button type="button" class="undo">undo</button>
    <button type="button" class="clear">clear</button>
    <button type="button" class="from-style">start from the style's map</button>
    <button type="button" class="download">download the doodle (PNG)</button>
  </div>
  <div class="paper"><img class="underlay" alt=""><canvas width="512" height="384"></canvas></div>
  <p class="hint">Choose a painting to draw in its labels.</p>
</div>
"""

CSS = """
.studio-canvas .legend { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 6px; }
.studio-canvas .legend button, .studio-canvas .tools button { border: 1px solid #bbb; border-radius: 6px;
  padding: 3px 8px; background: white; cursor: pointer; }
.studio-canvas .legend button.chosen { outline: 3px solid #f97316; }
.studio-canvas .swatch { display: inline-block; width: 14px; height: 14px; margin-right: 5px;
  vertical-align: -2px; border: 1px solid #555; }
.studio-canvas .tools { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 6px; }
.studio-canvas .paper { position: relative; width: 100%; }
.studio-canvas canvas { width: 100%; height: auto; display: block; touch-action: none; cursor: crosshair;
  border: 1px solid #999; position: relative; }
.studio-canvas img.underlay { position: absolute; inset: 0; width: 100%; height: 100%; display: none; }
.studio-canvas.editing canvas { opacity: 0.55; }
.studio-canvas .hint { color: #666; font-size: 0.9em; }
"""

def map_upload_label(editing: bool):
    return gr.update(label="Upload the style's map (PNG)" if editing else "Upload a doodle (PNG map)")


APPLY_SETUP = "(setup) => { if (setup && window.doodleStudio) window.doodleStudio.setup(JSON.parse(setup)); }"


def canvas_script() -> str:
    return resources.files(__package__).joinpath("canvas.js").read_text(encoding="utf-8")


def shown_in_page(handler):
    """A handler whose errors become one line in the page (a DoodleError says what to do; anything
    else is logged in full for the server's owner and shown briefly), leaving the server running."""
    def explain(error: Exception) -> gr.Error:
        if isinstance(error, gr.Error):
            return error
        if isinstance(error, DoodleError):
            return gr.Error(str(error), print_exception=False)
        log.exception("studio request failed")
        return gr.Error(f"{type(error).__name__}: {error}".splitlines()[0], print_exception=False)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def generator(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - shown, see above
                raise explain(error) from None
        return generator

    @functools.wraps(handler)
    def plain(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - shown, see above
            raise explain(error) from None
    return plain


def style_caption(session) -> str:
    style = session.style
    origin = {"drawn": "its own map", "made": "a map made automatically: check it, correct it with the brushes",
              "edited": "its map, corrected here", "uploaded": "the map uploaded for it"}[style.map_origin]
    model = session.studio.model_for(style)
    live = (f"model **{model.name}**: the preview follows every stroke" if model is not None else
            "no trained model yet: a quick preview runs after each stroke (train one for live previews)")
    labels = ", ".join(style.names)
    return f"**{style.painting.name}** with {origin}; labels: {labels}. {live}."


def build_app(studio: Studio) -> gr.Blocks:
    paintings = gallery(studio.settings.styles)
    with gr.Blocks(title="doodle studio", delete_cache=(600, 3600)) as app:
        gr.Markdown("# doodle studio\nChoose a painting, draw its labels, and watch the painting follow.")
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                styles = gr.Gallery(value=[(str(path), path.stem) for path in paintings], label="Paintings",
                                    columns=2, allow_preview=False, height=300, elem_id="styles",
                                    show_label=True, interactive=False)
                upload_painting = gr.UploadButton("Upload a painting", file_types=["image"], type="filepath",
                                                  elem_id="upload-painting")
                edit_map = gr.Checkbox(label="Edit the style's map", value=False, elem_id="edit-map")
                caption = gr.Markdown("Choose a painting from the gallery, or upload one.", elem_id="style-caption")
            with gr.Column(scale=2, min_width=360):
                gr.HTML(html_template=CANVAS_HTML, js_on_load=canvas_script(), elem_id="canvas", padding=False)
                with gr.Row():
                    upload_doodle = gr.UploadButton("Upload a doodle (PNG map)", file_types=["image"],
                                                    type="filepath", elem_id="upload-doodle")
            with gr.Column(scale=2, min_width=360):
                preview = gr.Image(label="Preview", format="jpeg", interactive=False, elem_id="preview", height=300)
                with gr.Row():
                    side = gr.Dropdown(list(PAINT_SIDES), value=DEFAULT_PAINT_SIDE, label="Size (longer side)",
                                       elem_id="paint-size")
                    preset = gr.Dropdown(list(presets()), value="doodle", label="Preset", elem_id="preset")
                with gr.Row():
                    paint = gr.Button("Paint", variant="primary", elem_id="paint")
                    stop = gr.Button("Stop", elem_id="stop")
                progress = gr.Markdown(elem_id="progress")
                result = gr.Image(label="Painting", format="png", interactive=False, elem_id="result", height=300)
                download_result = gr.DownloadButton("Download the painting (PNG)", elem_id="download-result",
                                                    visible=False)
                with gr.Row():
                    steps = gr.Number(800, label="Training steps", precision=0, minimum=1, elem_id="train-steps")
                    train = gr.Button("Train a model for this style", elem_id="train")
                training = gr.Markdown(elem_id="training")
                ticker = gr.Timer(2.0, active=False)
        canvas_data = gr.Textbox(visible="hidden", elem_id="studio-canvas-data")
        setup = gr.Textbox(visible="hidden", elem_id="studio-canvas-setup")

        def session_of(request: gr.Request):
            return studio.session(request.session_hash)

        def uploaded(path: str) -> tuple[Path, str]:
            """An upload's file and the name the user gave it; Gradio's copy goes once it is read."""
            return Path(path), Path(path).name

        def forget(path: str) -> None:
            Path(path).unlink(missing_ok=True)

        @shown_in_page
        def pick(event: gr.SelectData, request: gr.Request):
            session = session_of(request)
            config = session.choose_file(paintings[event.index])
            return json.dumps(config), gr.update(value=False), style_caption(session), map_upload_label(False)

        @shown_in_page
        def upload_style(path: str, request: gr.Request):
            session = session_of(request)
            gr.Info("making a map of the painting (a few seconds)")
            try:
                config = session.upload_painting(*uploaded(path))
            finally:
                forget(path)
            return json.dumps(config), gr.update(value=True), style_caption(session), map_upload_label(True)

        @shown_in_page
        def toggle_map(editing: bool, request: gr.Request):
            session = session_of(request)
            if session.style is None:
                return gr.skip(), gr.update(value=False), gr.skip(), gr.skip()
            if editing == session.editing_style_map:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return (json.dumps(session.edit_style_map(editing)), gr.skip(), style_caption(session),
                    map_upload_label(editing))

        def take_snapshot(session, snapshot: str) -> bool:
            """Hand the session a canvas snapshot ("GENERATION SEQUENCE DATA-URL"); False when it was
            drawn on an earlier setup of the canvas or is older than what the session has (handlers
            run side by side, so an older one can come last)."""
            generation, sequence, url = ((snapshot or "").split(" ", 2) + ["", ""])[:3]
            if not (url and generation.isdigit() and sequence.isdigit()):
                return False
            return session.draw(url, int(sequence), int(generation))

        @shown_in_page
        def drawn(snapshot: str, request: gr.Request):
            """A stroke: the model's painting at once when the style has one, else a quick optimisation
            that the next stroke cancels (its handler runs beside this one and bumps the stroke count)."""
            session = session_of(request)
            if not take_snapshot(session, snapshot):
                return
            image = session.model_preview()
            if image is not None:
                yield image
            else:
                yield from session.quick_preview()

        @shown_in_page
        def doodle_upload(path: str, request: gr.Request):
            session = session_of(request)
            try:  # while the style's map is edited, the upload is that map; else it is the doodle
                config = (session.upload_style_map(*uploaded(path)) if session.editing_style_map
                          else session.upload_doodle(*uploaded(path)))
            finally:
                forget(path)
            return json.dumps(config), style_caption(session)

        @shown_in_page
        def run_paint(chosen_side, chosen_preset, snapshot, request: gr.Request):
            session = session_of(request)
            # The canvas as it is now, even while strokes are still queued (their handlers, older, then
            # leave the doodle alone).
            take_snapshot(session, snapshot)
            for image, line, path in session.paint(int(chosen_side), chosen_preset):
                yield (image if image is not None else gr.skip(), line,
                       gr.update(value=str(path), visible=True) if path is not None else gr.skip())

        def stop_paint(request: gr.Request):
            return session_of(request).stop()

        @shown_in_page
        def start_training(chosen_steps, request: gr.Request):
            line = session_of(request).train(800 if chosen_steps is None else int(chosen_steps))
            return line, gr.Timer(active=True)

        def poll_training():
            line = studio.training_line()
            running = studio.training is not None and studio.training.running
            return line, gr.Timer(active=running)

        def ended(request: gr.Request):
            studio.end_session(request.session_hash)

        # Only after a handler succeeded: a refused upload leaves the canvas (and its undo) as it was.
        shown_on_canvas = dict(fn=None, inputs=setup, outputs=None, js=APPLY_SETUP)
        styles.select(pick, None, [setup, edit_map, caption, upload_doodle]).success(
            **shown_on_canvas)
        upload_painting.upload(upload_style, upload_painting, [setup, edit_map, caption, upload_doodle],
                               concurrency_id="maps").success(**shown_on_canvas)
        edit_map.input(toggle_map, edit_map, [setup, edit_map, caption, upload_doodle]).success(**shown_on_canvas)
        # Every stroke runs (a newer one cancels the older preview itself), side by side up to four.
        canvas_data.change(drawn, canvas_data, preview, trigger_mode="multiple",
                           concurrency_limit=4, concurrency_id="strokes", show_progress="hidden")
        upload_doodle.upload(doodle_upload, upload_doodle, [setup, caption]).success(
            **shown_on_canvas)
        # One painting at a time on the machine: every tab's Paint waits in this one queue.
        paint.click(run_paint, [side, preset, canvas_data], [result, progress, download_result],
                    concurrency_id="paint", concurrency_limit=1)
        stop.click(stop_paint, None, progress, concurrency_limit=None)
        train.click(start_training, steps, [training, ticker])
        ticker.tick(poll_training, None, [training, ticker])
        app.unload(ended)
    return app


def launch(studio: Studio, host: str, port: int):
    """Start the server (never a public share link) and return (app, its address)."""
    app = build_app(studio)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
               max_file_size="25mb", css=CSS, footer_links=[])
    return app, app.local_url
