"""Planning `doodle batch`: every job of a jobs file checked before any work starts, and what each
will do (run, be skipped, resume, wait for the jobs that make its inputs).

- The whole file is checked before any work starts: its structure, then every job's request, built
  by the function its command uses. A job whose output exists and was not written by this batch
  (no record in the manifest) is refused unless it says `force = true`.
- A re-run skips jobs whose latest manifest record is `done` with the same input hash (settings
  and the bytes of every input file) while their output exists; it does the rest again.
- A job that reads another job's output waits for it; a job that reads its own output, or a cycle,
  is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DoodleError
from .images import path_exists
from .jobs import INPUT_KEYS, Job, JobsFile, inputs_digest, request_for
from .manifest import Manifest


@dataclass(frozen=True)
class PlannedJob:
    job: Job
    digest: str | None  # None: an input is made by another job of this run, so it is hashed when it runs
    force: bool  # replace what is at its output (an earlier run's, or a dead attempt's)
    resume: bool  # a video job continues the frames it kept
    skip: bool  # done before, with the same inputs
    needs: tuple[int, ...] = ()  # indexes of the jobs that make its inputs; it runs once they are done


def frames_kept(request) -> bool:
    """Whether a clip job's work folder holds frames a run kept (what --resume continues)."""
    from .video.painting import kept_frame_name, painted_frames

    return bool(painted_frames(request.work_dir, kept_frame_name(request)))


def output_exists(job: Job) -> bool:
    """A result at the job's output. A clip's folder output fills frame by frame, so only kept
    frames say something is there (see `frames_kept`)."""
    if job.kind == "video" and job.output.is_dir():
        return False
    return path_exists(job.output)


def dependencies(jobs: JobsFile) -> list[tuple[int, ...]]:
    """For each job, the jobs whose output it reads (a model trained, a painting repainted); one
    DoodleError for a job that needs itself, or a cycle."""
    made = {job.output: index for index, job in enumerate(jobs.jobs)}
    needs = []
    for index, job in enumerate(jobs.jobs):
        found = set()
        for key in INPUT_KEYS:
            values = job.options.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and Path(value) in made:
                    found.add(made[Path(value)])
        if index in found:
            raise DoodleError(f"{jobs.path}: {job.where}: reads its own output {job.output}; give it another output")
        needs.append(tuple(sorted(found)))
    # A cycle: some jobs would wait for each other for ever.
    state = [0] * len(needs)  # 0 unseen, 1 on the path, 2 done

    def visit(index: int) -> None:
        state[index] = 1
        for other in needs[index]:
            if state[other] == 1:
                raise DoodleError(f"{jobs.path}: {jobs.jobs[index].where} and {jobs.jobs[other].where} need each "
                                  "other's outputs; no order can run them")
            if state[other] == 0:
                visit(other)
        state[index] = 2

    for index in range(len(needs)):
        if state[index] == 0:
            visit(index)
    return needs


def plan_jobs(jobs: JobsFile, manifest: Manifest) -> list[PlannedJob]:
    """Check every job before any work starts; one DoodleError (naming the file and the job's
    line) for the first that cannot run. A job reading another job's output waits for that job;
    it is checked up front as far as it can be (its other inputs), and in full when it runs."""
    latest = manifest.latest()
    needs = dependencies(jobs)
    planned: list[PlannedJob] = []
    for index, job in enumerate(jobs.jobs):
        previous = latest.get(str(job.output))
        exists = output_exists(job)
        own_force = bool(job.options.get("force", False))
        if exists and previous is None and not own_force:
            raise DoodleError(f"{jobs.path}: {job.where}: {job.output} already exists and this batch did not write "
                              "it; remove it, or give the job force = true")
        waits = [planned[other] for other in needs[index]]
        if any(not item.skip for item in waits):  # its inputs are remade by this run: checked when it runs
            planned.append(PlannedJob(job, None, own_force or previous is not None and exists, False, False,
                                      needs[index]))
            continue
        try:
            probe = request_for(job, force=True)  # what it reads and where it keeps frames
            digest = inputs_digest(job, probe)
            same = previous is not None and previous.get("inputs") == digest
            # What an earlier run of the same job left is continued: a clip's kept frames, the
            # checkpoint of a training whose worker died. Anything else of ours is replaced.
            resume = same and not own_force and previous.get("status") != "done" and (
                job.kind == "video" and frames_kept(probe) or job.kind == "train" and exists)
            force = own_force or (previous is not None and not resume and (exists or job.kind == "video"))
            request_for(job, force=force and not resume, resume=resume)  # the command's own checks
        except DoodleError as error:
            raise DoodleError(f"{jobs.path}: {job.where}: {error}") from None
        except OSError as error:
            raise DoodleError(f"{jobs.path}: {job.where}: cannot read an input ({error.strerror or error})") from None
        skip = exists and same and previous.get("status") == "done"
        planned.append(PlannedJob(job, digest, force, resume, skip, needs[index]))
    return planned
