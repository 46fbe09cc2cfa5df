"""`doodle video --model M --address ADDR`: a model-painted clip spread over a Ray cluster.

A model paints each frame on its own (the same seed for all: frames do not depend on each other),
so the clip is cut into chunks of consecutive frames, one Ray task each, spread across the nodes.
Every task reads the clip up to its stretch (decoding skips the frames before it) and keeps each
painted frame where the one-machine path keeps it (a video's JPEG resume points in OUTPUT_frames/, or a folder output's PNGs), so the
inputs and the output must be on a filesystem every node sees at the same paths. The frames are
then joined in order, encoded as the one-machine path encodes them, and a stopped run resumes from
the first frame missing. (The optimisation path paints each frame from the previous one: it stays on one
machine.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import DoodleError
from ..images import write_image
from ..video_request import VideoRequest
from .clips import FRAME_NAME, open_clip
from .painting import (
    ClipRecord,
    FrameDone,
    FrameSink,
    ModelPainter,
    kept_frame_name,
    kept_frames,
    painted_frames,
    write_resume_point,
)

CHUNK_FRAMES = 48  # the fewest frames a task paints: 2 s of a 24 fps clip, a few seconds on one CPU
# Every task decodes the clip from its start up to its stretch, so chunks of a long clip grow with
# it: about this many per CPU of the cluster, which keeps the decoding done twice a small part.
CHUNKS_PER_CPU = 4


def paint_chunk(request: VideoRequest, start: int, stop: int | None, out_hw: tuple[int, int], threads: int) -> int:
    """Paint frames start..stop-1 (from 0; to the clip's end when `stop` is None) into the kept
    frames, as `ModelPainter` paints them on one machine; returns how many."""
    import itertools

    import torch

    torch.set_num_threads(max(1, threads))
    painter = ModelPainter(request, out_hw, lambda text: None)
    name = kept_frame_name(request)
    painted = 0
    for index, frame in zip(itertools.count(start) if stop is None else range(start, stop),
                            open_clip(request.clip).frames(start)):
        image = painter.paint(index, frame, None, None)[0]
        target = request.work_dir / name.format(index + 1)
        if name == FRAME_NAME:
            write_image(target, image)
        else:
            write_resume_point(target, image)
        painted += 1
    return painted


def paint_clip_on_ray(request: VideoRequest, address: str, *, on_frame: Callable[[FrameDone], None],
                      on_note: Callable[[str], None], cpus_per_job: float = 1.0,
                      chunk_frames: int | None = None) -> ClipRecord:
    """Paint `request` (a model's) over the Ray cluster at `address` ("local": an embedded one)."""
    from ..batch import BatchOptions, start_ray

    if request.model is None:
        raise DoodleError("--address spreads a model's frames over a cluster; the optimisation path paints each frame "
                          "from the previous one, so it runs on one machine: drop --address, or give --model")
    started = time.perf_counter()
    clip = open_clip(request.clip, request.fps)
    if clip.frame_count is None:
        raise DoodleError(f"{request.clip}: does not say how many frames it has, so it cannot be cut into chunks; "
                          "drop --address, or convert it to a folder of frames")
    out_hw = (request.size[1], request.size[0]) if request.size is not None else (clip.size[1], clip.size[0])
    name = kept_frame_name(request)
    done = kept_frames(request, out_hw)
    record = ClipRecord(resumed_from=len(done))
    sink = FrameSink(request, clip, len(done), on_note)  # checks the output before any work is sent
    ray = start_ray(BatchOptions(address=None if address == "local" else address))
    task = ray.remote(num_cpus=cpus_per_job, max_retries=2, scheduling_strategy="SPREAD")(paint_chunk)
    threads = max(1, int(cpus_per_job))
    if chunk_frames is None:
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_job))
        chunk_frames = max(CHUNK_FRAMES, -(-(clip.frame_count - len(done)) // (CHUNKS_PER_CPU * slots)))
    # The clip's own count may be an estimate (webm, gif): the last chunk runs to its real end.
    starts = list(range(len(done), clip.frame_count, chunk_frames))
    chunks = {task.remote(request, first, first + chunk_frames if first != starts[-1] else None, out_hw, threads): first
              for first in starts}
    try:
        while chunks:
            ready, _ = ray.wait(list(chunks), num_returns=1)
            chunks.pop(ready[0])
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
    if len(kept) != record.resumed_from + record.painted:
        raise DoodleError(f"{request.work_dir}: holds {len(kept)} frames in order, but {record.resumed_from} were kept "
                          f"and {record.painted} painted; check that every node writes to the same folder, then "
                          "--resume")
    sink.encode_kept(kept)
    record.written = sink.close()
    if record.painted:  # the mean time a frame took, as the one-machine path reports it
        record.frame_seconds = [record.frame_seconds[-1] / record.painted] * record.painted
    record.seconds = time.perf_counter() - started
    return record

