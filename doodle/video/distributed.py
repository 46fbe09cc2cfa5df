"""`doodle video --model M --address ADDR`: a model-painted clip spread over a Ray cluster.

A model paints each frame on its own (the same seed for all: frames do not depend on each other),
so the clip is cut into chunks of consecutive frames, one Ray task each, spread across the nodes.
Every task decodes its own stretch of the clip and keeps each painted frame where the one-machine
path keeps it (a video's JPEG resume points in OUTPUT_frames/, or a folder output's PNGs), so the
inputs and the output must be on a filesystem every node sees at the same paths. The frames are
then joined in order, encoded as the one-machine path encodes them, and a stopped run resumes from
the frames kept. (The optimisation path paints each frame from the previous one: it stays on one
machine.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import DoodleError
from ..images import write_image
from ..video_request import VideoRequest
from .clips import FRAME_NAME, open_clip
from .painting import ClipRecord, FrameDone, FrameSink, kept_frame_name, painted_frames, write_resume_point

CHUNK_FRAMES = 48  # frames a task paints: 2 s of a 24 fps clip, a few seconds of work on one CPU


def paint_chunk(request: VideoRequest, start: int, stop: int, out_hw: tuple[int, int], threads: int) -> int:
    """Paint frames start..stop-1 (from 0) of the clip into the kept frames; returns how many."""
    import torch

    from ..feedforward.models import Stylizer
    from ..feedforward.painting import model_painting

    torch.set_num_threads(max(1, threads))
    model = Stylizer.load(request.model)
    name = kept_frame_name(request)
    painted = 0
    for index, frame in zip(range(start, stop), open_clip(request.clip).frames(start)):
        image = model_painting(model, frame, out_hw, request.config.seed, None, precision=request.config.precision,
                               as_uint8=True)
        target = request.work_dir / name.format(index + 1)
        if name == FRAME_NAME:
            write_image(target, image)
        else:
            write_resume_point(target, image)
        painted += 1
    return painted


def paint_clip_on_ray(request: VideoRequest, address: str, *, on_frame: Callable[[FrameDone], None],
                      on_note: Callable[[str], None], cpus_per_job: float = 1.0,
                      chunk_frames: int = CHUNK_FRAMES) -> ClipRecord:
    """Paint `request` (a model's) over the Ray cluster at `address` ("local": an embedded one)."""
    from ..batch import BatchOptions, start_ray

    if request.model is None:
        raise DoodleError("--address spreads a model's frames over a cluster; the optimisation path paints each frame "
                          "from the previous one, so it runs on one machine: drop --address, or give --model")
    started = time.perf_counter()
    clip = open_clip(request.clip)
    if clip.frame_count is None:
        raise DoodleError(f"{request.clip}: does not say how many frames it has, so it cannot be cut into chunks; "
                          "drop --address, or convert it to a folder of frames")
    out_hw = (request.size[1], request.size[0]) if request.size is not None else (clip.size[1], clip.size[0])
    name = kept_frame_name(request)
    done = painted_frames(request.work_dir, name)
    if done and not (request.resume or request.force):
        raise DoodleError(f"{request.work_dir}: holds {len(done)} painted frames of an earlier run; pass --resume to "
                          "continue it, or --force to start over")
    if request.force:
        for path in done:
            path.unlink(missing_ok=True)
        done = []
    record = ClipRecord(resumed_from=len(done))
    sink = FrameSink(request, clip, len(done), on_note)  # checks the output before any work is sent
    ray = start_ray(BatchOptions(address=None if address == "local" else address))
    task = ray.remote(num_cpus=cpus_per_job, max_retries=2, scheduling_strategy="SPREAD")(paint_chunk)
    threads = max(1, int(cpus_per_job))
    chunks = {task.remote(request, first, min(first + chunk_frames, clip.frame_count), out_hw, threads):
              (first, min(first + chunk_frames, clip.frame_count))
              for first in range(len(done), clip.frame_count, chunk_frames)}
    try:
        while chunks:
            ready, _ = ray.wait(list(chunks), num_returns=1)
            first, stop = chunks.pop(ready[0])
            record.painted += ray.get(ready[0])
            record.frame_seconds.append(time.perf_counter() - started)
            on_frame(FrameDone(record.resumed_from + record.painted, clip.frame_count,
                               (time.perf_counter() - started) / max(1, record.painted)))
    except KeyboardInterrupt:
        for ref in chunks:
            ray.cancel(ref, force=True)
        record.interrupted = True
        record.seconds = time.perf_counter() - started
        return record
    except ray.exceptions.RayError as error:
        for ref in chunks:
            ray.cancel(ref, force=True)
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DoodleError(f"{request.clip}: a chunk of frames failed on the cluster ({reason[:300]}); the frames "
                          "painted are kept, --resume continues") from None
    kept = painted_frames(request.work_dir, name)
    if len(kept) != clip.frame_count:
        raise DoodleError(f"{request.work_dir}: holds {len(kept)} of {clip.frame_count} frames after the run; check "
                          "that every node writes to the same folder, then --resume")
    sink.encode_kept(kept)
    record.written = sink.close()
    record.frame_seconds = [record.frame_seconds[-1] / max(1, record.painted)] * record.painted
    record.seconds = time.perf_counter() - started
    return record

