"""`doodle batch`: the jobs of a jobs file (doodle/jobs.py) as Ray tasks, on an embedded cluster
or a real one, resumable and fault-tolerant.

- The whole file is checked before any work starts, and each job planned: run, skipped, resumed or
  waiting for the jobs that make its inputs (`plan_jobs`, doodle/batch_plan.py).
- Each job is a task with its share of CPUs (torch's threads set to it, so tasks never
  oversubscribe a node) and GPUs. A worker that dies (killed, out of memory) is retried by Ray up
  to `retries` times; its next attempt sees the earlier one's record and replaces what it left.
  A job that fails on its input (a DoodleError) fails alone, with its one-line error recorded.
- Paintings that share a style and its settings get the style's features computed once, by one
  task, and shared through Ray's object store (`synthesis.style_features_of`).
- Ctrl-C stops scheduling; running jobs finish (or, with `cancel`, are cancelled and recorded so).

Ray is imported here only, when a batch runs; `doodle[batch]` installs it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batch_plan import PlannedJob, frames_kept, output_exists
from .errors import DoodleError
from .interrupts import held_signals
from .jobs import JobsFile, inputs_digest, request_for
from .manifest import Manifest

PROGRESS_EVERY_S = 0.5  # how often a task tells the board what it is doing
# An embedded cluster's nodes name themselves by this address, so they talk over loopback (Ray 2.60's
# servers still listen on every interface: it has no setting to narrow that; see docs/batch.md).
LOCAL = "127.0.0.1"


@dataclass(frozen=True)
class BatchOptions:
    address: str | None = None  # None: an embedded local cluster; "auto" or ray://host:port: join one
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    retries: int = 2
    cancel: bool = False  # on Ctrl-C, cancel running jobs instead of letting them finish
    cpus: int | None = None  # CPUs of the embedded cluster (default: all of this machine's)


@dataclass
class BatchRecord:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that stopped the run (Ctrl-C: SIGINT)


# --- what a task runs -------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _encoder(model: str, pooling: str, device: str):
    """One network per worker process and settings: a worker runs many jobs, and loading the
    weights each time would cost about a second a job."""
    from .encoder import load_encoder

    return load_encoder(model, pooling, device)


def _engine_encoder(config):
    from .plan import pick_device

    return _encoder(config.model, config.pooling, str(pick_device(config.device)))


def style_features_task(planned: PlannedJob, threads: int) -> dict:
    """The style side of a painting (its features at every phase), for every painting of the group
    to share; {} when they cannot be made (each job then encodes its own, and reports its error)."""
    import torch

    from . import synthesis

    torch.set_num_threads(max(1, threads))
    try:
        request = request_for(planned.job, force=True)
        return synthesis.style_features_of(**request.engine_arguments(), encoder=_engine_encoder(request.config))
    except Exception:  # noqa: BLE001 - the jobs themselves will say what is wrong
        return {}


def run_job(planned: PlannedJob, manifest_path: str, threads: int, board, style_features: dict | None) -> dict:
    """Run one job in a worker: record its start, build its request again (the files are checked
    where they are read), run it, write its result atomically. Returns its record."""
    import torch

    torch.set_num_threads(max(1, threads))
    manifest = Manifest(Path(manifest_path))
    job, key = planned.job, str(planned.job.output)
    earlier = manifest.latest().get(key)
    started = time.time()
    manifest.append({"output": key, "job": job.number, "line": job.line, "kind": job.kind, "status": "started",
                     "started": started, "inputs": planned.digest, "node": _node_id()})
    # A dead attempt of this job (this run's, retried by Ray) may have left something: a clip's
    # frames and a training's checkpoint are continued, what else is there is replaced.
    dead_attempt = (earlier is not None and earlier.get("status") == "started"
                    and earlier.get("inputs") == planned.digest)
    resume = planned.resume or (dead_attempt and job.kind in ("video", "train") and not planned.force
                                and (output_exists(job) if job.kind == "train" else True))
    force = planned.force or (dead_attempt and not resume and output_exists(job))
    last_told = [0.0]

    def tell(text: str) -> None:
        now = time.perf_counter()
        if board is not None and now - last_told[0] >= PROGRESS_EVERY_S:
            last_told[0] = now
            board.update.remote(key, text)

    if board is not None:  # from here on the view shows it as started, not waiting for a worker
        board.update.remote(key, "starting")
    digest = planned.digest
    try:
        needs_probe = digest is None or (resume and job.kind == "video")
        probe = request_for(job, force=True) if needs_probe else None  # what it reads, where it keeps frames
        if digest is None:  # its inputs were made by other jobs of this run: hashed now that they exist
            digest = inputs_digest(job, probe)
        if resume and job.kind == "video" and not frames_kept(probe):
            resume = False  # the dead attempt kept no frame: start the clip
        request = request_for(job, force=force and not resume, resume=resume)
        written = _execute(job.kind, request, tell, style_features)
    except DoodleError as error:
        return {"status": "failed", "error": str(error), "seconds": time.time() - started, "inputs": digest}
    except Exception as error:  # noqa: BLE001 - one job's bug must not end the batch; it is recorded
        return {"status": "failed", "error": f"{type(error).__name__}: {error}", "seconds": time.time() - started,
                "inputs": digest}
    return {"status": "done", "written": str(written), "seconds": time.time() - started, "inputs": digest}


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside a Ray worker
        return None


def _execute(kind: str, request, tell: Callable[[str], None], style_features: dict | None) -> Path:
    notes = lambda text: None  # noqa: E731 - a batch reports outcomes, not notes
    if kind == "paint":
        from .request import make_maps, run
        from .results import write_result

        made = make_maps(request, notes)[0] if request.make_maps else None

        def on_progress(event) -> None:
            tell(f"phase {event.phase}/{event.phases}, evaluation {event.evaluation}/{event.max_evaluations}")

        encoder = _engine_encoder(request.config) if request.model is None else None
        result = run(request, made_maps=made, callback=on_progress, on_note=notes, encoder=encoder,
                     style_features=style_features or None)
        return write_result(request, result.image)
    if kind == "train":
        from .train_request import train

        train(request, callback=lambda step: tell(f"step {step.step}/{request.steps}"), on_note=notes)
        return request.output
    from .video.painting import paint_clip

    record = paint_clip(request, on_frame=lambda done: tell(f"frame {done.number}/{done.total or '?'}"),
                        on_note=notes)
    return record.written or request.output


# --- the driver ------------------------------------------------------------------------------


def style_groups(planned: list[PlannedJob]) -> dict[int, list[int]]:
    """Paintings to run that share a style and every setting but their layout (map, content,
    seed): {first job's index: indexes of the group}, groups of two or more only. Sharing is safe
    whatever the grouping: features are looked up by what they were computed from."""
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(planned):
        options = item.job.options
        by_model = str(options.get("model", "")).endswith(".doodle")
        if item.skip or item.needs or item.job.kind != "paint" or by_model or options.get("auto_maps"):
            continue
        shared = {key: value for key, value in options.items()
                  if key not in ("map", "content", "content_map", "output", "force", "seed")}
        groups.setdefault(repr(sorted(shared.items())), []).append(index)
    return {members[0]: members for members in groups.values() if len(members) > 1}


def start_ray(options: BatchOptions):
    try:
        import ray
    except ImportError:
        raise DoodleError("doodle batch runs on Ray, which is not installed; pip install 'doodle[batch]'") from None
    if ray.is_initialized():
        return ray
    try:
        if options.address is None:
            # address="local": a fresh embedded cluster, never a stale one named in /tmp/ray.
            ray.init(address="local", num_cpus=options.cpus or os.cpu_count() or 1, include_dashboard=False,
                     _node_ip_address=LOCAL, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(address=options.address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = options.address or "an embedded cluster"
        raise DoodleError(f"--address {where}: cannot start or join Ray ({error}); check the address, or leave "
                          "--address out for a cluster on this machine") from None
    return ray


def check_room(ray, options: BatchOptions) -> None:
    """Refuse a share no node has (Ray would wait for it for ever, without a word)."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    cpus = max((node.get("CPU", 0) for node in nodes), default=0)
    gpus = max((node.get("GPU", 0) for node in nodes), default=0)
    if options.cpus_per_job > cpus:
        raise DoodleError(f"--cpus-per-job {options.cpus_per_job:g}: the largest node has {cpus:g} CPUs; ask for at "
                          "most that")
    if options.gpus_per_job > gpus:
        raise DoodleError(f"--gpus-per-job {options.gpus_per_job:g}: the largest node has {gpus:g} GPUs; ask for at "
                          "most that, or 0")


class ProgressBoard:
    """What each running job last said (a Ray actor: tasks tell it, the driver reads it)."""

    def __init__(self) -> None:
        self.said: dict[str, str] = {}

    def update(self, key: str, text: str) -> None:
        self.said[key] = text

    def read(self) -> dict[str, str]:
        return dict(self.said)


def run_batch(jobs: JobsFile, manifest: Manifest, options: BatchOptions, planned: list[PlannedJob],
              on_change: Callable[[dict], None] = lambda state: None) -> BatchRecord:
    """Run the planned jobs; `on_change` hears the state (per job: queued, running, done, failed,
    skipped, with what the running ones last said) about twice a second."""
    began = time.perf_counter()
    record = BatchRecord()
    for item in planned:
        if item.skip:
            record.skipped.append(str(item.job.output))
            manifest.append({"output": str(item.job.output), "job": item.job.number, "line": item.job.line,
                             "kind": item.job.kind, "status": "skipped", "inputs": item.digest})
    if all(item.skip for item in planned):  # nothing to do: no cluster to start
        return record
    ray = start_ray(options)
    check_room(ray, options)
    resources = {"num_cpus": options.cpus_per_job, "num_gpus": options.gpus_per_job}
    threads = max(1, int(options.cpus_per_job))
    # SPREAD: jobs go across the nodes, not all to the one holding the shared style features (Ray's
    # default places a task beside its arguments; the features are small beside a job's work).
    task = ray.remote(max_retries=options.retries, scheduling_strategy="SPREAD", **resources)(run_job)
    style_task = ray.remote(max_retries=options.retries, **resources)(style_features_task)
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    state = {str(item.job.output): "skipped" if item.skip else "queued" for item in planned}
    groups = style_groups(planned)
    shared = {}
    for first, members in groups.items():
        ref = style_task.remote(planned[first], threads)
        for index in members:
            shared[index] = ref
    queue = [index for index, item in enumerate(planned) if not item.skip]
    running: dict[Any, int] = {}
    total_cpus = ray.cluster_resources().get("CPU", 1)
    slots = max(1, int(total_cpus // max(options.cpus_per_job, 1e-9)))
    stopping = False
    try:
        while queue or running:
            try:
                for index in list(queue):  # a job whose input failed cannot run
                    lost = [other for other in planned[index].needs if state[str(planned[other].job.output)]
                            in ("failed", "cancelled")]
                    if lost:
                        queue.remove(index)
                        _fail_unrun(planned[index], planned[lost[0]], manifest, record, state)
                while len(running) < slots and not stopping:
                    ready_to_run = [index for index in queue if all(
                        state[str(planned[other].job.output)] in ("done", "skipped") for other in planned[index].needs)]
                    if not ready_to_run:
                        break
                    index = ready_to_run[0]
                    queue.remove(index)
                    ref = task.remote(planned[index], str(manifest.path), threads, board, shared.get(index))
                    running[ref] = index
                    state[str(planned[index].job.output)] = "running"
                if not running:
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=PROGRESS_EVERY_S)
                for ref in ready:
                    with held_signals():  # a finished job's record is never lost to a stop
                        _finish(ray, ref, planned[running[ref]], manifest, record, state)
                        running.pop(ref)
                on_change({"state": state, "said": ray.get(board.read.remote()),
                           "seconds": time.perf_counter() - began})
            except KeyboardInterrupt as stop:
                record.stop_signal = record.stop_signal or getattr(stop, "signum", None)
                if stopping or options.cancel:  # a second Ctrl-C, or --cancel: stop the running jobs too
                    for ref in running:
                        ray.cancel(ref, force=True)
                    for ref, index in list(running.items()):  # each recorded as it ended: cancelled, or done
                        with held_signals():
                            _finish(ray, ref, planned[index], manifest, record, state, cancelled=True)
                            running.pop(ref)
                stopping, record.interrupted = True, True
                queue.clear()
    finally:
        record.seconds = time.perf_counter() - began
    return record


def _fail_unrun(item: PlannedJob, cause: PlannedJob, manifest: Manifest, record: BatchRecord, state: dict) -> None:
    """A job that cannot run because a job making its input failed: recorded so, with the cause."""
    key = str(item.job.output)
    error = f"not run: its input {cause.job.output} is made by {cause.job.where}, which did not finish"
    manifest.append({"output": key, "job": item.job.number, "line": item.job.line, "kind": item.job.kind,
                     "inputs": item.digest, "status": "failed", "error": error})
    state[key] = "failed"
    record.failed[key] = error


def _finish(ray, ref, item: PlannedJob, manifest: Manifest, record: BatchRecord, state: dict,
            cancelled: bool = False) -> None:
    """Record how a task ended. `cancelled`: we cancelled it, so a worker killed for it is no failure."""
    key = str(item.job.output)
    try:
        result = ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        result = {"status": "cancelled"}
    except ray.exceptions.RayError as error:  # the worker died more often than --retries allows
        if cancelled:
            result = {"status": "cancelled"}
        else:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            result = {"status": "failed", "error": f"its worker died and retries ran out ({reason[:200]})"}
    manifest.append({"output": key, "job": item.job.number, "line": item.job.line, "kind": item.job.kind,
                     "inputs": item.digest, **{key_: value for key_, value in result.items() if value is not None}})
    state[key] = result["status"]
    if result["status"] == "done":
        record.done.append(key)
    elif result["status"] == "cancelled":
        record.cancelled.append(key)
    else:
        record.failed[key] = result.get("error", "")
