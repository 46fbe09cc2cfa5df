"""The `doodle` command: flags become a PaintConfig, progress callbacks become a progress bar."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .config import INIT_KINDS, PaintConfig, default_of, help_of, preset_config, presets
from .errors import DoodleError
from .images import (check_writable, make_parent, parse_size, read_image, read_map, require_file,
                     sidecar_map_path, write_image, write_images)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Semantic style transfer: turn a few-colour doodle into a painting.")
console = Console(stderr=True)
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def note(text: str) -> None:
    console.print(f"[yellow]note:[/] {text}", highlight=False, soft_wrap=True)


def _option(name: str, **extra):
    default = default_of(name)
    if isinstance(default, tuple):  # lists of layers or numbers are written comma-separated
        default = ",".join(str(item) for item in default)
    return typer.Option(default, help=help_of(name), **extra)


def _preset_option(name: str):
    """An option whose default is the preset's value: typed, it overrides the preset."""
    return typer.Option(None, help=f"{help_of(name)} Default: the preset's.", show_default=False)


def config_from_flags(ctx: typer.Context, preset: Optional[str]) -> PaintConfig:
    """The preset's settings (or the defaults), then every setting flag given on the command line.

    Only flags the user typed override the preset; their displayed defaults are PaintConfig's."""
    names = {field.name for field in fields(PaintConfig)}
    # By the enum's name: typer vendors click (typer._click) in new releases and uses click in old.
    given = {name: value for name, value in ctx.params.items()
             if name in names and ctx.get_parameter_source(name).name != "DEFAULT"}
    try:
        return preset_config(preset, **given) if preset is not None else PaintConfig(**given)
    except ValueError as error:
        # A preset's value may be what clashes with a flag the user typed: say where it came from.
        fail(str(error) + (f" (values from --preset {preset} apply unless you type the flag)"
                           if preset is not None and "--preset" not in str(error) else ""))


def _existing(path: Optional[Path]) -> Optional[Path]:
    return path if path is not None and path.exists() else None


def short_name(loss: str) -> str:
    """'style:relu3_1' -> 'relu3_1', 'gram:relu3_1' -> 'gram3_1', 'content:relu4_2' -> 'content',
    'smoothness' -> 'tv'."""
    kind, _, layer = loss.partition(":")
    return {"style": layer, "gram": layer.replace("relu", "gram"), "content": "content",
            "smoothness": "tv"}.get(kind, loss)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"doodle {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """Semantic style transfer: turn a few-colour doodle into a painting."""


PRESET_HELP = "Start from a named preset (doodle presets lists them); flags given as well override its values."


@app.command()
def paint(
    ctx: typer.Context,
    style: list[Path] = typer.Option(..., help="The painting whose style to copy; repeat for several styles (see --style-blend). Its map X_sem.png beside it is used when present."),
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
    style_loss: str = _option("style_loss"),
    style_layers: str = _option("style_layers"),
    content_layers: str = _option("content_layers"),
    style_weight: float = _option("style_weight"),
    content_weight: float = _option("content_weight"),
    smoothness: float = _option("smoothness"),
    semantic_weight: float = _option("semantic_weight"),
    variety: float = _option("variety"),
    style_blend: str = _option("style_blend"),
    style_scale: float = _option("style_scale"),
    style_rotations: str = _option("style_rotations"),
    style_scales: str = _option("style_scales"),
    colors: str = _option("colors"),
    phases: int = _option("phases"),
    iterations: int = _option("iterations"),
    optimizer: str = _option("optimizer"),
    learning_rate: float = _option("learning_rate"),
    init: str = _option("init"),
    init_noise: float = _option("init_noise"),
    seed: int = _option("seed"),
    model: str = _option("model"),
    pooling: str = _option("pooling"),
    matcher: str = _option("matcher"),
    search: str = _option("search"),
    rematch_every: int = _option("rematch_every"),
    precision: str = _option("precision"),
    tolerance: float = _option("tolerance"),
    memory_budget_mb: int = _option("memory_budget_mb"),
    slices: int = _option("slices"),
    device: str = _option("device"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors and notes only."),
) -> None:
    """Paint OUTPUT in the style of STYLE: from a doodle (--map), a photo (--content), or a texture (--size)."""
    config = config_from_flags(ctx, preset)
    if content is None and config.init == "content" and ctx.get_parameter_source("init").name == "DEFAULT":
        # The preset repaints photos from themselves; with no photo, start as a doodle does.
        config = config.with_overrides(init="noise", init_noise=0.0)
        if not quiet:
            note(f"--preset {preset} starts from the content image; with no --content it starts from noise")
    if save_every < 0:
        fail("--save-every must not be negative")

    try:
        for given, what in ([(path, "image") for path in style] + [(content, "image"), (map_, "map")]
                            + [(path, "map") for path in style_map or []] + [(content_map, "map")]):
            if given is not None:
                require_file(given, what)
        if no_maps and auto_maps:
            fail("--no-maps and --auto-maps contradict each other; choose one")
        if style_map and len(style_map) != len(style):
            fail(f"{len(style_map)} --style-map for {len(style)} --style; give one map per style, in the same order")
        if no_maps:
            style_map_paths, target_map_path = [None] * len(style), None
        else:
            style_map_paths = [given or _existing(sidecar_map_path(path))
                               for path, given in zip(style, style_map or [None] * len(style))]
            if content is not None:
                if map_ is not None:
                    fail("--map is the doodle to paint; with --content give its map as --content-map")
                target_map_path = content_map or _existing(sidecar_map_path(content))
            else:
                target_map_path = map_ or _existing(sidecar_map_path(output))
            mapped = [path for path in style_map_paths if path is not None]
            if mapped and len(mapped) < len(style):
                bare = next(path for path, found in zip(style, style_map_paths) if found is None)
                fail(f"{bare}: has no map but {mapped[0]} does; give every --style a map (--style-map), or --no-maps")
            style_map_path = mapped[0] if mapped else None
            if auto_maps:
                _check_auto_maps(style, content, style_map_path, target_map_path)
            if style_map_path is not None and target_map_path is None and content is None and size is None:
                fail(f"{style_map_path}: the style has a map but there is no doodle to paint; give --map, or "
                     "--no-maps --size WxH for a texture")
            if (style_map_path is None) != (target_map_path is None) and not auto_maps:
                side = "--style-map" if style_map_path is None else ("--content-map" if content is not None else "--map")
                have = target_map_path if style_map_path is None else style_map_path
                fail(f"{have}: a map was found for one side only; give {side} too, or --no-maps to ignore maps")
        inputs = [p for p in (*style, content, *style_map_paths, target_map_path) if p is not None]
        if config.init not in INIT_KINDS:
            inputs.append(Path(config.init))
        output = check_writable(output, inputs, force)
        size_wh = parse_size(size) if size is not None else None
    except DoodleError as error:
        fail(str(error))

    frames_dir = output.with_name(output.stem + "_frames")
    if save_every and frames_dir.exists() and not frames_dir.is_dir():
        fail(f"{frames_dir}: is a file, so frames cannot go there; move it or drop --save-every")
    style_map_inputs, target_map_input = style_map_paths, target_map_path
    if auto_maps and all(path is None for path in style_map_paths):
        *style_map_inputs, target_map_input = _make_maps(style, content, quiet)
    result = _run_paint(style, style_map_inputs if any(m is not None for m in style_map_inputs) else None,
                        content, target_map_input, size_wh, config, quiet, save_every, frames_dir)
    try:
        make_parent(output)
        write_image(output, result.image)
    except DoodleError as error:
        fail(str(error))
    except OSError as error:
        fail(f"{output}: cannot write the painting ({error.strerror or error}); choose another --output")
    _report(output, result, quiet)


def _run_paint(styles, style_maps, content, target_map, size_wh, config, quiet: bool, save_every: int = 0,
               frames_dir: Optional[Path] = None):
    """Run the engine under a progress bar; errors become one line, Ctrl-C before any image exit 130."""
    from .synthesis import paint as run_paint
    from .weights import WeightsUnavailable

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
        if save_every and event.evaluation % save_every == 0:
            frames_dir.mkdir(parents=True, exist_ok=True)
            write_image(frames_dir / f"phase{event.phase}_{event.evaluation:04d}.png", event.image())

    try:
        with bar:
            return run_paint(styles, style_map=style_maps, content=content,
                             content_map=target_map if content is not None else None,
                             target_map=target_map if content is None else None,
                             size=size_wh, config=config, callback=on_progress, on_note=note)
    except (DoodleError, WeightsUnavailable) as error:
        fail(str(error))
    except KeyboardInterrupt:
        console.print("interrupted before the first image existed; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)


def _report(output: Path, result, quiet: bool) -> None:
    record = result.record
    height, width = result.image.shape[:2]
    state = "interrupted; saved the image so far to" if record.interrupted else "wrote"
    console.print(f"{state} {output} ({width}x{height}, {record.mode} mode, {record.model}) "
                  f"in {record.seconds:.1f} s", highlight=False)
    if not quiet:
        for phase in record.phases:
            stop = ", converged" if phase.converged else ""
            console.print(f"  phase {phase.index}: {phase.size[0]}x{phase.size[1]}, {phase.evaluations} evaluations"
                          f"{stop}, {phase.seconds:.1f} s ({phase.network_seconds:.1f} s in the network, "
                          f"{phase.match_seconds:.1f} s in patch matching)", highlight=False)
    if record.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _check_auto_maps(styles: list[Path], content: Optional[Path], style_map: Optional[Path],
                     target_map: Optional[Path]) -> None:
    """--auto-maps makes all maps together or none: maps made apart would not share colours."""
    if content is None:
        fail("--auto-maps needs --content: a doodle's colours cannot be matched automatically; run "
             f"'doodle segment {' '.join(map(str, styles))}' and draw the doodle in the colours of the map it makes")
    if (style_map is None) != (target_map is None):
        have, lacking = (target_map, styles[0]) if style_map is None else (style_map, content)
        fail(f"--auto-maps: {have} is a map but {lacking} has none, and maps made apart would not share "
             "colours; give both maps, or move this one away to have both made")
    if style_map is not None:
        note(f"{style_map} and {target_map} are used as they are; --auto-maps makes maps only when there are none")


def _make_maps(styles: list[Path], content: Path, quiet: bool):
    """Maps for the style images and the content, labelled together; notes say how they were made."""
    from segmentation import segment

    images = [*styles, content]
    try:
        with console.status("making the semantic maps") if not quiet else contextlib.nullcontext():
            made = segment(images, on_note=note)
    except DoodleError as error:
        fail(str(error))
    except KeyboardInterrupt:
        console.print("interrupted while making the maps; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    labels = ", ".join(made.names[label] for label in made.present)
    note(f"made the maps automatically ({made.method} method: {labels}); "
         f"'doodle segment {' '.join(map(str, images))}' saves them for editing")
    return made.maps


@app.command()
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

    try:
        for image in images:
            require_file(image, "image")
        if method not in METHODS:
            raise DoodleError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
        if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
            raise DoodleError(f"{output_dir}: is a file; give a folder as --output-dir")
        targets = [(output_dir / image.name if output_dir is not None else image) for image in images]
        map_paths = [sidecar_map_path(target) for target in targets]
        stems = "+".join(image.stem for image in images)
        preview_path = (output_dir or images[0].parent) / f"{stems[:120]}_preview.png"
        outputs = map_paths + ([preview_path] if preview else [])
        seen: set[Path] = set()
        for path in outputs:
            if path.resolve() in seen:
                raise DoodleError(f"{path}: two images would write the same map; give them different names")
            seen.add(path.resolve())
            check_writable(path, list(images), force, flag="--output-dir")
    except DoodleError as error:
        fail(str(error))

    try:
        pictures = [read_image(image) for image in images]
        with console.status(f"mapping {len(images)} image(s)") if not quiet else contextlib.nullcontext():
            made = run_segment(pictures, method=method, labels=labels, names=[str(i) for i in images],
                               on_note=note)
        outputs = list(zip(map_paths, made.maps))
        if preview:
            outputs.append((preview_path, preview_sheet(pictures, made)))
        try:
            write_images(outputs)
        except OSError as error:
            fail(f"cannot write the maps ({error.strerror or error}); choose another --output-dir")
    except DoodleError as error:
        fail(str(error))
    except KeyboardInterrupt:
        console.print("interrupted; no maps written")
        raise typer.Exit(EXIT_INTERRUPTED)
    if quiet:
        return
    legend = ", ".join(f"{made.names[k]} {colour_name(made.palette[k])}" for k in made.present)
    console.print(f"{made.method} method, {made.count} labels: {legend}", highlight=False, soft_wrap=True)
    for path in map_paths + ([preview_path] if preview else []):
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)


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
def texture(
    ctx: typer.Context,
    references: list[Path] = typer.Argument(..., help="Reference images of one style; their maps X_sem.png are used when all have one."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the exemplar (.png or .jpg); with maps, its map goes beside it as OUTPUT_sem.png."),
    weights_: Optional[str] = typer.Option(None, "--weights", help="Weight of each reference, e.g. 2,1,1 (default: equal)."),
    size: Optional[str] = typer.Option(None, help="Exemplar size WIDTHxHEIGHT. Default: the layout's, else the first reference's."),
    map_: Optional[Path] = typer.Option(None, "--map", help="Layout of the exemplar in the references' map colours. Default: the first reference's map."),
    no_maps: bool = typer.Option(False, "--no-maps", help="Ignore the references' maps: one texture for the whole image."),
    preset: str = typer.Option("painterly", help="Preset whose loss and layers to use (doodle presets); flags below override it."),
    style_loss: Optional[str] = _preset_option("style_loss"),
    style_layers: Optional[str] = _preset_option("style_layers"),
    style_weight: Optional[float] = _preset_option("style_weight"),
    smoothness: Optional[float] = _preset_option("smoothness"),
    phases: Optional[int] = _preset_option("phases"),
    iterations: Optional[int] = _preset_option("iterations"),
    seed: int = _option("seed"),
    model: str = _option("model"),
    device: str = _option("device"),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUTPUT (and its map) if they exist."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors and notes only."),
) -> None:
    """Make one style exemplar from several references: usable directly as --style, per label with maps."""
    from .images import resize_map

    config = config_from_flags(ctx, preset)
    # Textures grow from noise: the preset's start from a content image has no content here.
    try:
        config = config.with_overrides(init="noise", init_noise=0.0, colors="none", content_weight=0.0,
                                       style_blend=weights_)
    except ValueError as error:
        fail(str(error).replace("--style-blend weights", "--weights").replace("--style-blend", "--weights"))
    if config.style_blend and len(config.style_blend) != len(references):
        fail(f"--weights has {len(config.style_blend)} weight(s) for {len(references)} reference(s); give one each")
    try:
        for reference in references:
            require_file(reference, "image")
        if map_ is not None:
            require_file(map_, "map")
        if no_maps and map_ is not None:
            raise DoodleError("--map gives the exemplar's layout in map colours; it cannot go with --no-maps")
        maps = [] if no_maps else [_existing(sidecar_map_path(reference)) for reference in references]
        if any(found is None for found in maps):
            bare = next(ref for ref, found in zip(references, maps) if found is None)
            if map_ is not None:
                raise DoodleError(f"{bare}: has no map X_sem.png, so --map cannot be used; map it with doodle segment")
            if any(found is not None for found in maps):
                note(f"{bare} has no map X_sem.png, so the references' maps are not used: one texture for the "
                     "whole exemplar")
            maps = []
        inputs = [*references, *maps, *([map_] if map_ else [])]
        output = check_writable(output, inputs, force)
        outputs = [output]
        if maps:
            outputs.append(check_writable(sidecar_map_path(output), inputs, force))
        size_wh = parse_size(size) if size is not None else None
        layout = None
        if maps:
            layout = read_map(map_ or maps[0])
            if size_wh is not None:
                layout = resize_map(layout, size_wh)
            size_wh = None  # the layout sets the size now
    except DoodleError as error:
        fail(str(error))
    result = _run_paint(references, maps or None, None, layout, size_wh, config, quiet)
    files = [(output, result.image)] + ([(outputs[1], layout)] if maps else [])
    try:
        write_images(files)
    except DoodleError as error:
        fail(str(error))
    except OSError as error:
        fail(f"{output}: cannot write the exemplar ({error.strerror or error}); choose another --output")
    _report(output, result, quiet)
    if maps and not quiet:
        console.print(f"wrote {outputs[1]}, the exemplar's map: use --style {output} as it is", highlight=False)


@app.command()
def weights() -> None:
    """Say which network weights are available, where they live, and their checksums."""
    from .weights import describe_weights

    # Plain lines rather than a table: paths and hashes must stay whole to be copied.
    for entry in describe_weights():
        state = "available" if entry["available"] else "not available"
        typer.echo(f"{entry['model']}: {state} - {entry['source']}")
        typer.echo(f"  path:   {entry['path'] or '-'}")
        typer.echo(f"  sha256: {entry['sha256'] or '-'}")
        typer.echo(f"  note:   {entry['note']}")


@app.command()
def score(
    painting: Path = typer.Argument(..., help="The painting to check."),
    map_: Path = typer.Option(..., "--map", help="The doodle (target map) it was painted from."),
    style: Path = typer.Option(..., help="The style image."),
    style_map: Optional[Path] = typer.Option(None, help="Map of the style image. Default: STYLE's sidecar X_sem.png."),
) -> None:
    """Region check: the area-weighted share of regions whose colours match their style label's."""
    from .regions import region_score

    try:
        report = region_score(read_image(painting), read_map(map_), read_image(style),
                              read_map(style_map or sidecar_map_path(style)))
    except DoodleError as error:
        fail(str(error))
    table = Table("region", "area (px)", "closest style label", "right")
    for region in report.regions:
        table.add_row(region.colour, str(region.area), region.closest, "yes" if region.right else "no")
    out = Console()
    out.print(table)
    out.print(f"region score: {report.score:.3f}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
