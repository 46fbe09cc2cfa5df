"""The `doodle` command: it parses flags, builds a request (`doodle.request`) and reports.

Input rules live in the request layer and painting in the engine; this module only translates
flags into requests and shows progress and results. It does not import torch, so that `--help`,
`presets`, `weights` and `--version` answer at once; the engine is imported when a painting runs.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from . import request as requests
from . import train_request as trainings
from .cli_batch import batch
from .cli_console import console, fail, handles_errors, note, printable, say, short_name, show_notes  # noqa: F401
from .cli_options import paint_settings, setting_option, typed_settings
from .cli_studio import studio
from .cli_video import video
from .config import presets
from .decoding import MAX_MEGAPIXELS_HELP, set_max_megapixels
from .images import read_image, read_map, write_images
from .interrupts import deferred_interrupts, exit_code, on_interrupt
from .results import FrameWriter, write_result

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Semantic style transfer: turn a few-colour doodle into a painting.")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"doodle {__version__}")
        raise typer.Exit()


@app.callback()
@handles_errors()
def main(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                      help="Show the version and exit."),
         max_megapixels: Optional[str] = typer.Option(None, metavar="N", show_default=False,
                                                      help=MAX_MEGAPIXELS_HELP)) -> None:
    """Semantic style transfer: turn a few-colour doodle into a painting."""
    if max_megapixels is not None:  # text, checked there: a bad value is one line like every error
        set_max_megapixels(max_megapixels)


PRESET_HELP = "Start from a named preset (doodle presets lists them); flags given as well override its values."


@app.command()
@handles_errors()
@paint_settings()
def paint(
    ctx: typer.Context,
    style: Optional[list[Path]] = typer.Option(None, help="The painting whose style to copy; repeat for several styles (see --style-blend). Its map X_sem.png beside it is used when present. Not with --model NAME.doodle, which knows its style."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the painting (.png or .jpg)."),
    content: Optional[Path] = typer.Option(None, help="A photo to repaint (its map X_sem.png beside it is used when present)."),
    map_: Optional[Path] = typer.Option(None, "--map", help="The doodle to paint (target map). Default: OUTPUT's sidecar, e.g. out/coast_sem.png."),
    style_map: Optional[list[Path]] = typer.Option(None, help="Map of the style image; repeat once per --style. Default: each STYLE's sidecar X_sem.png."),
    content_map: Optional[Path] = typer.Option(None, help="Map of the content image. Default: CONTENT's sidecar X_sem.png."),
    no_maps: bool = typer.Option(False, "--no-maps", help="Ignore all maps: plain style transfer or texture synthesis."),
    auto_maps: bool = typer.Option(False, "--auto-maps", help="Make the style's and the content's maps automatically when neither has one (see doodle segment)."),
    size: Optional[str] = typer.Option(None, help="Output size WIDTHxHEIGHT. Default: the content's, else the map's, else the style's."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUTPUT if it exists."),
    save_every: int = typer.Option(0, help="Also write the image every N evaluations into OUTPUT_frames/ (0 = off)."),
    preset: Optional[str] = typer.Option(None, help=PRESET_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors and notes only."),
    **settings,
) -> None:
    """Paint OUTPUT in the style of STYLE: from a doodle (--map), a photo (--content), or a texture (--size)."""
    request = requests.paint_request(style or [], output, content=content, doodle=map_, style_maps=style_map,
                                     content_map=content_map, no_maps=no_maps, auto_maps=auto_maps, size=size,
                                     force=force, save_every=save_every, preset=preset,
                                     settings=typed_settings(ctx))
    show_notes(request)
    made_maps = None
    if request.make_maps:
        with on_interrupt("interrupted while making the maps; nothing written"), busy("making the semantic maps", quiet):
            made_maps, summary = requests.make_maps(request, on_note=note)
        note(summary)
    paint_and_write(request, quiet, made_maps)


def busy(message: str, quiet: bool):
    return console.status(message) if not quiet else contextlib.nullcontext()


def paint_and_write(request: requests.PaintRequest, quiet: bool, made_maps=None) -> None:
    """Paint, write the result and report. From the first evaluation on, a stop signal (Ctrl-C,
    SIGTERM, SIGHUP) waits for the image so far to be written; a second one stops at once."""
    with deferred_interrupts(armed=False) as interrupt:
        result = paint_with_progress(request, quiet, interrupt, made_maps)
        interrupt.hold()  # a model paints without evaluations: its result is held to be written too
        written = write_result(request, result.image)
    report(written, result, quiet, interrupt.signum)


def paint_with_progress(request: requests.PaintRequest, quiet: bool, interrupt, made_maps=None):
    """Run the engine under a progress bar (one bar per phase, with the loss terms and an ETA), saving
    frames when asked. `interrupt` is armed at the first evaluation; a stop signal before it means
    nothing written."""
    frames = FrameWriter(request.frames_dir, request.save_every, note)
    bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                   console=console, disable=quiet, transient=False)
    tasks: dict[int, int] = {}

    def on_progress(event) -> None:
        if event.phase not in tasks:
            width, height = event.size
            tasks[event.phase] = bar.add_task(f"{event.phase}/{event.phases} {width}x{height}",
                                              total=event.max_evaluations, losses="")
        parts = " ".join(f"{short_name(name)} {value:.3g}" for name, value in event.losses.items())
        bar.update(tasks[event.phase], completed=event.evaluation, losses=parts)
        frames.offer(event.phase, event.evaluation, event.image)
        interrupt.arm()  # from here on, a stop signal raises here, between evaluations

    with on_interrupt("interrupted before the first image existed; nothing written"), bar:
        return requests.run(request, made_maps=made_maps, callback=on_progress, on_note=note)


def report(output: Path, result, quiet: bool, signum: int | None = None) -> None:
    record = result.record
    height, width = result.image.shape[:2]
    state = "interrupted; saved the image so far to" if record.interrupted else "wrote"
    say("", f"{state} {output} ({width}x{height}, {record.mode} mode, {record.model}) in {record.seconds:.1f} s")
    if not quiet:
        for phase in record.phases:
            stop = ", converged" if phase.converged else ", stopped: loss not finite" if phase.non_finite else ""
            say("", f"  phase {phase.index}: {phase.size[0]}x{phase.size[1]}, {phase.evaluations} evaluations"
                    f"{stop}, {phase.seconds:.1f} s ({phase.network_seconds:.1f} s in the network, "
                    f"{phase.match_seconds:.1f} s in patch matching)")
    if record.interrupted or signum:
        raise typer.Exit(exit_code(signum))


@app.command()
@handles_errors("interrupted; no maps written")
def segment(
    images: list[Path] = typer.Argument(..., help="The images to map; they are labelled together, so one colour means one kind of region in all."),
    labels: Optional[int] = typer.Option(None, "--labels", "-k", help="Number of labels for the cluster method (2-12). Default: chosen from the images."),
    method: str = typer.Option("auto", help="auto (portrait when mediapipe is installed and every image shows a face, and no --labels; else cluster), cluster, portrait or network."),
    output_dir: Optional[Path] = typer.Option(None, help="Where to write the maps. Default: beside each image, where doodle paint finds them."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing maps and preview."),
    preview: bool = typer.Option(True, help="Also write a preview sheet (image, map, overlay) as PNG."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Errors and notes only."),
) -> None:
    """Make semantic maps X_sem.png for images automatically: for doodle paint, or to draw doodles in their colours."""
    from segmentation import METHODS
    from segmentation import segment as run_segment
    from segmentation.preview import preview_sheet

    from .semantic import colour_name

    request = requests.segment_request(images, METHODS, method=method, output_dir=output_dir, preview=preview,
                                       force=force)
    pictures = [read_image(image) for image in request.images]
    with busy(f"mapping {len(images)} image(s)", quiet):
        made = run_segment(pictures, method=method, labels=labels, names=[str(i) for i in images], on_note=note)
    outputs = list(zip(request.map_paths, made.maps))
    if request.preview_path is not None:
        outputs.append((request.preview_path, preview_sheet(pictures, made)))
    try:
        # All or nothing, and never over a file that appeared while mapping unless --force: maps take
        # seconds to make again, and numbered names would not be the sidecars doodle paint finds.
        write_images(outputs, replace=request.force)
    except FileExistsError as error:
        fail(f"{error.filename}: appeared while mapping; no maps written; pass --force to replace it, or move it")
    except OSError as error:
        fail(f"cannot write the maps ({error.strerror or error}); choose another --output-dir")
    if quiet:
        return
    legend = ", ".join(f"{made.names[k]} {colour_name(made.palette[k])}" for k in made.present)
    say("", f"{made.method} method, {made.count} labels: {legend}")
    if made.reason:
        say("", made.reason)
    for path in request.outputs:
        say("", f"wrote {path}")


@app.command("presets")
def list_presets() -> None:
    """List the presets for --preset: what each is for, and the flags it stands for."""
    for preset in presets().values():
        typer.echo(f"{preset.name}: {preset.description}")
        flags = []
        for name, value in preset.settings.items():
            text = ",".join(str(item) for item in value) if isinstance(value, tuple) else str(value)
            flags.append(f"--{name.replace('_', '-')} {text}")
        typer.echo("  " + " ".join(flags))


@app.command()
@handles_errors()
@paint_settings(["style_loss", "style_layers", "style_weight", "smoothness", "phases", "iterations"], from_preset=True)
def texture(
    ctx: typer.Context,
    references: list[Path] = typer.Argument(..., help="Reference images of one style; their maps X_sem.png are used when all have one."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the exemplar (.png or .jpg); with maps, its map goes beside it as OUTPUT_sem.png."),
    weights_: Optional[str] = typer.Option(None, "--weights", help="Weight of each reference, e.g. 2,1,1 (default: equal)."),
    size: Optional[str] = typer.Option(None, help="Exemplar size WIDTHxHEIGHT. Default: the layout's, else the first reference's."),
    map_: Optional[Path] = typer.Option(None, "--map", help="Layout of the exemplar in the references' map colours. Default: the first reference's map."),
    no_maps: bool = typer.Option(False, "--no-maps", help="Ignore the references' maps: one texture for the whole image."),
    preset: str = typer.Option("painterly", help="Preset whose loss and layers to use (doodle presets); flags below override it."),
    seed: int = setting_option("seed"),
    model: str = setting_option("model"),
    device: str = setting_option("device"),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUTPUT (and its map) if they exist."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors and notes only."),
    **settings,
) -> None:
    """Make one style exemplar from several references: usable directly as --style, per label with maps."""
    request = requests.texture_request(references, output, weights=weights_, size=size, layout=map_,
                                       no_maps=no_maps, force=force, preset=preset, settings=typed_settings(ctx))
    show_notes(request)
    paint_and_write(request, quiet)
    if request.companions and not quiet:
        say("", f"wrote {request.companions[0].path}, the exemplar's map: use --style {request.output} as it is")


@app.command()
@handles_errors("interrupted; OUTPUT holds the last checkpoint, if one was written")
@paint_settings(["style_loss", "style_layers", "style_weight", "content_weight", "smoothness", "semantic_weight"],
                from_preset=True)
def train(
    ctx: typer.Context,
    style: Path = typer.Option(..., help="The painting whose style the model learns."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the model (NAME.doodle); it is rewritten at every checkpoint."),
    style_map: Optional[Path] = typer.Option(None, help="Map of the style image. Default: STYLE's sidecar X_sem.png."),
    kind: str = typer.Option("doodle", help="doodle (paints doodles drawn in the style map's colours) or content (repaints photos).", metavar="[doodle|content]"),
    content_dir: Optional[Path] = typer.Option(None, help="A folder of photos for a content model. Default: the photographs scikit-image ships."),
    size: int = typer.Option(256, help="Side of the square training crops, in pixels."),
    steps: int = typer.Option(800, help="Training steps in all (counting those of a resumed model); 800 take about 17 minutes at 256 px on two CPU cores."),
    batch: int = typer.Option(2, help="Examples per step."),
    width: int = typer.Option(16, help="Channels of the generator: wider paints finer and runs slower."),
    train_rate: float = typer.Option(2e-3, "--learning-rate", help="Adam's step size at the start; it falls along a half cosine to a tenth."),
    stability: float = typer.Option(0.0, help="Weight of a term that keeps the painting steady when the input moves, brightens or gets noisy, for video (0 = off; try 10: higher is steadier but flatter)."),
    preview_every: int = typer.Option(50, help="Write OUTPUT_preview.png, the model's painting of the style's own map (or a photo), every N steps (0 = off)."),
    checkpoint_every: int = typer.Option(50, help="Write the model every N steps (0 = only at the end)."),
    resume: bool = typer.Option(False, "--resume", help="Train the model in OUTPUT further, up to --steps."),
    force: bool = typer.Option(False, "--force", "-f", help="Start over, replacing the model in OUTPUT."),
    preset: str = typer.Option(trainings.TRAIN_PRESET, help="Preset whose losses and layers to train with (doodle presets); flags below override it. Gram losses train several times faster than the patch loss."),
    seed: int = setting_option("seed"),
    model: str = setting_option("model"),
    device: str = setting_option("device"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors and notes only."),
    **settings,
) -> None:
    """Train a feed-forward model of STYLE: it then paints doodles (or photos) in one pass (doodle paint --model)."""
    request = trainings.train_request(style, output, style_map=style_map, kind=kind, content_dir=content_dir,
                                      size=size, steps=steps, batch=batch, width=width, learning_rate=train_rate,
                                      resume=resume, force=force, preview_every=preview_every, stability=stability,
                                      checkpoint_every=checkpoint_every, preset=preset, settings=typed_settings(ctx))
    show_notes(request)
    bar = Progress(TextColumn("training"), BarColumn(bar_width=20), MofNCompleteColumn(), TextColumn("eta"),
                   TimeRemainingColumn(), TextColumn("{task.fields[rate]} {task.fields[losses]}"), console=console,
                   disable=quiet, transient=False)
    task = bar.add_task("training", total=request.steps, losses="", rate="")
    started_at: dict[str, int] = {}  # the step this run began from (a resumed model has done some)

    def on_progress(event) -> None:
        begun = started_at.setdefault("step", event.step - 1)
        parts = " ".join(f"{short_name(name)} {value:.3g}" for name, value in event.losses.items())
        rate = f"{(event.step - begun) / max(event.elapsed, 1e-9):.2f} steps/s"
        bar.update(task, completed=event.step, losses=parts, rate=rate)

    with bar:
        stylizer, record = trainings.train(request, callback=on_progress, on_note=note)
    state = "interrupted; saved the model so far to" if record.interrupted else "wrote"
    say("", f"{state} {request.output} ({stylizer.info.kind} model, {stylizer.step} steps) in {record.seconds:.0f} s")
    if record.interrupted:
        raise typer.Exit(exit_code(record.stop_signal))


@app.command("model")
@handles_errors()
def model_info(path: Path = typer.Argument(..., help="A model file made by doodle train.")) -> None:
    """Say what a model file holds: its kind, style, labels, network and training."""
    from .feedforward.models import Stylizer

    stylizer = Stylizer.load(path)
    # A model file is input like any other: what it says about itself is shown, never obeyed.
    typer.echo(printable(str(path)))
    for what, value in stylizer.describe():
        typer.echo(printable(f"  {what + ':':<10} {value}"))


@app.command()
def weights() -> None:
    """Say which network weights are available, where they live, and their checksums."""
    from .weights import describe_weights

    # Plain lines rather than a table: paths and hashes must stay whole to be copied.
    for entry in describe_weights():
        state = "available" if entry["available"] else "not available"
        typer.echo(f"{entry['model']}: {state} - {entry['source']}")
        typer.echo(printable(f"  path:   {entry['path'] or '-'}"))  # from $DOODLE_CACHE, $TORCH_HOME...
        typer.echo(f"  sha256: {entry['sha256'] or '-'}")
        typer.echo(printable(f"  note:   {entry['note']}"))


@app.command()
@handles_errors()
def score(
    painting: Path = typer.Argument(..., help="The painting to check."),
    map_: Path = typer.Option(..., "--map", help="The doodle (target map) it was painted from."),
    style: Path = typer.Option(..., help="The style image."),
    style_map: Optional[Path] = typer.Option(None, help="Map of the style image. Default: STYLE's sidecar X_sem.png."),
) -> None:
    """Region check: the area-weighted share of regions whose colours match their style label's."""
    from .metrics import region_score

    style_map = requests.style_map_for(style, style_map)
    report_ = region_score(read_image(painting), read_map(map_), read_image(style), read_map(style_map),
                           names=(str(painting), str(map_), str(style), str(style_map)))
    table = Table("region", "area (px)", "closest style label", "right")
    for region in report_.regions:
        table.add_row(region.colour, str(region.area), region.closest, "yes" if region.right else "no")
    out = Console()
    out.print(table)
    out.print(f"region score: {report_.score:.3f}")


app.command()(video)
app.command()(batch)
app.command()(studio)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
