"""`doodle video`: paint a clip frame by frame, by a trained model or by optimisation.

Like every command it only parses flags, builds a request (doodle/video_request.py) and reports;
the frame loop is doodle/video/painting.py. Registered on the app by doodle/cli.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import video_request as videos
from .cli_console import console, handles_errors, note, say, short_name, show_notes
from .cli_options import paint_settings, typed_settings
from .interrupts import deferred_interrupts, exit_code


@handles_errors("interrupted; the frames painted so far are kept (--resume continues)")
@paint_settings()
def video(
    ctx: typer.Context,
    clip: Path = typer.Argument(..., help="The clip to paint: a video file (mp4, webm, mov, gif) or a folder of numbered frames."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write it: a video (.mp4, .webm, .mov, .mkv, .gif), or a folder for numbered PNG frames. A video keeps the clip's frame rate and sound."),
    style: Optional[list[Path]] = typer.Option(None, help="The painting whose style to copy (as for doodle paint); not with --model NAME.doodle."),
    style_map: Optional[list[Path]] = typer.Option(None, help="Map of the style image. Default: STYLE's sidecar X_sem.png."),
    doodles: bool = typer.Option(False, "--doodles", help="The clip is of doodles (maps in the style map's colours) to paint, not of photos to repaint."),
    maps: Optional[Path] = typer.Option(None, "--maps", help="A clip of the photo clip's maps, frame for frame (semantic transfer)."),
    no_maps: bool = typer.Option(False, "--no-maps", help="Ignore all maps: plain style transfer of every frame."),
    auto_maps: bool = typer.Option(False, "--auto-maps", help="Make a map for every frame, with the same labels throughout (fitted once on the style's map, or on the style and the first frame)."),
    size: Optional[str] = typer.Option(None, help="Size WIDTHxHEIGHT of the painted frames. Default: the clip's."),
    fps: Optional[float] = typer.Option(None, help="Frames per second of a clip given as a folder of frames (default 24); a video plays at its own rate."),
    temporal_weight: float = typer.Option(videos.DEFAULT_TEMPORAL_WEIGHT, help="How strongly each frame holds the previous painting where the motion carries it (0: warm start only)."),
    frame_iterations: Optional[int] = typer.Option(None, help="Evaluations for each frame after the first, which starts warm. Default: half of --iterations."),
    preset: Optional[str] = typer.Option(None, help="Start from a named preset (doodle presets); flags given as well override it."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its painted frames (OUTPUT_frames/)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUTPUT, and start over from the first frame."),
    address: Optional[str] = typer.Option(None, help="Spread a model's frames over a Ray cluster: auto, ray://HOST:PORT, or local (an embedded one). Inputs and output on a filesystem every node sees."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; errors and notes only."),
    **settings,
) -> None:
    """Paint a clip: every frame by a model (--model NAME.doodle), or by optimisation (--style), held steady from frame to frame."""
    request = videos.video_request(clip, output, styles=style or [], doodles=doodles, style_maps=style_map,
                                   map_clip=maps, no_maps=no_maps, auto_maps=auto_maps, size=size,
                                   frame_iterations=frame_iterations, temporal_weight=temporal_weight, resume=resume,
                                   force=force, preset=preset, settings=typed_settings(ctx), fps=fps)
    show_notes(request)
    from .video.painting import paint_clip

    bar = Progress(TextColumn("frames"), BarColumn(bar_width=20), MofNCompleteColumn(), TextColumn("eta"),
                   TimeRemainingColumn(), TextColumn("{task.fields[detail]}"), console=console, disable=quiet,
                   transient=False)
    task = bar.add_task("frames", total=None, detail="")

    def on_frame(done) -> None:
        bar.update(task, completed=done.number, total=done.total, detail=f"{done.seconds:.1f} s/frame")

    def on_evaluation(event) -> None:
        parts = " ".join(f"{short_name(name)} {value:.3g}" for name, value in event.losses.items())
        bar.update(task, detail=f"evaluation {event.evaluation}/{event.max_evaluations} {parts}")
        interrupt.arm()

    with deferred_interrupts(armed=False) as interrupt, bar:
        if address is not None:
            from .video.distributed import paint_clip_on_ray

            # Unarmed: a stop raises at once, which cancels the chunks elsewhere; the frames kept stay.
            record = paint_clip_on_ray(request, address, on_frame=on_frame, on_note=note)
        else:
            record = paint_clip(request, on_frame=on_frame, on_note=note, on_evaluation=on_evaluation,
                                stop_asked=lambda: interrupt.arm())
    frames = f"{record.painted} frames painted" + (f" after the {record.resumed_from} kept" if record.resumed_from else "")
    per_frame = f", {record.painted / sum(record.frame_seconds):.2f} frames/s" if record.frame_seconds else ""
    if record.interrupted:
        say("", f"interrupted: {frames}; they are kept in {request.work_dir} (run again with --resume)")
    else:
        say("", f"wrote {record.written} ({frames} in {record.seconds:.1f} s{per_frame})")
    if record.interrupted or interrupt.signum:  # a stop while the video was encoded still says so
        raise typer.Exit(exit_code(interrupt.signum))
