"""`doodle batch`: run a jobs file on Ray (doodle/batch.py), with a live view across jobs.

Like every command it only parses flags, builds the plan (doodle/jobs.py checks the whole file
first) and reports. Registered on the app by doodle/cli.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.live import Live
from rich.table import Table

from .cli_console import console, handles_errors, say
from .interrupts import exit_code

STATES = ("done", "running", "queued", "failed", "skipped", "cancelled")


@handles_errors("interrupted; the manifest records every job that finished")
def batch(
    jobs: Path = typer.Argument(..., help="The jobs file (TOML): [defaults], then [[paint]], [[train]] and [[video]] tables; see docs/batch.md."),
    address: Optional[str] = typer.Option(None, help="A Ray cluster to join: auto (the one this machine belongs to) or ray://HOST:PORT. Default: an embedded cluster on this machine."),
    cpus_per_job: float = typer.Option(1.0, help="CPUs each job takes (torch's threads are set to it)."),
    gpus_per_job: float = typer.Option(0.0, help="GPUs each job takes (fractions share one)."),
    retries: int = typer.Option(2, help="Times a job whose worker died (killed, out of memory) is tried again."),
    cancel: bool = typer.Option(False, "--cancel", help="On Ctrl-C, cancel the running jobs too (default: let them finish)."),
    cpus: Optional[int] = typer.Option(None, help="CPUs of the embedded cluster. Default: all of this machine's."),
    manifest: Optional[Path] = typer.Option(None, help="The manifest (JSON Lines) recording every job. Default: beside JOBS, e.g. jobs.manifest.jsonl for jobs.toml."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and say what each job would do (run, skip, wait for another), without running anything."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live view; the summary only."),
) -> None:
    """Run the jobs of a jobs file as tasks on Ray: resumable, each failure recorded alone."""
    from .batch import BatchOptions, run_batch
    from .batch_plan import plan_jobs
    from .errors import DoodleError
    from .images import check_output_folder
    from .jobs import read_jobs
    from .manifest import Manifest, manifest_path

    if cpus_per_job <= 0 or gpus_per_job < 0 or retries < 0 or (cpus is not None and cpus < 1):
        raise DoodleError("--cpus-per-job must be above 0, --gpus-per-job and --retries at least 0, --cpus at least 1")
    jobs_file = read_jobs(jobs)
    manifest = Manifest(manifest or manifest_path(jobs_file.path))
    check_output_folder(manifest.path, "--manifest")
    planned = plan_jobs(jobs_file, manifest)
    options = BatchOptions(address, cpus_per_job, gpus_per_job, retries, cancel, cpus)
    to_run = sum(not item.skip for item in planned)
    say("", f"{len(planned)} jobs in {jobs}: {to_run} to run, {len(planned) - to_run} done before with the same "
            f"inputs; manifest {manifest.path}")
    names = {str(item.job.output): f"{item.job.kind} {item.job.output.name}" for item in planned}
    if dry_run:
        for item in planned:
            action = ("skip: done before with the same inputs" if item.skip
                      else "run after " + ", ".join(planned[other].job.where for other in item.needs) if item.needs
                      else "run, replacing its earlier output" if item.force
                      else "run, continuing what it kept" if item.resume else "run")
            say("", f"{item.job.where}: {item.job.output}: {action}")
        return
    # A live view where someone watches; a log (not a terminal) gets the summary only.
    view = Live(console=console, transient=False, refresh_per_second=4) \
        if not quiet and to_run and console.is_terminal else None

    def show(update: dict) -> None:
        if view is not None:
            view.update(progress_table(update, names, to_run))

    if view is not None:
        view.start()
    try:
        record = run_batch(jobs_file, manifest, options, planned, on_change=show)
    finally:
        if view is not None:
            view.stop()
    for output, error in record.failed.items():
        say("[bold red]failed:[/] ", f"{names.get(output, output)}: {error}")
    say("", f"{len(record.done)} done, {len(record.failed)} failed, {len(record.skipped)} skipped"
            + (f", {len(record.cancelled)} cancelled" if record.cancelled else "")
            + f" in {record.seconds:.1f} s; manifest {manifest.path}")
    if record.interrupted:
        raise typer.Exit(exit_code(record.stop_signal))
    if record.failed:
        raise typer.Exit(1)


def progress_table(update: dict, names: dict[str, str], to_run: int) -> Table:
    """Counts by state, an ETA from the finished jobs' pace, and a line per running job."""
    state, said, seconds = update["state"], update["said"], update["seconds"]
    counts = {name: sum(1 for value in state.values() if value == name) for name in STATES}
    finished = counts["done"] + counts["failed"]
    remaining = counts["queued"] + counts["running"]
    eta = f", about {seconds / finished * remaining:.0f} s left" if finished and remaining else ""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_row(f"{finished}/{to_run} finished: " + ", ".join(f"{counts[name]} {name}" for name in STATES
                                                               if counts[name]) + f" ({seconds:.0f} s{eta})")
    for output, value in state.items():
        if value == "running":
            # Sent to the cluster but not yet begun: waiting for a free worker or for shared features.
            table.add_row(f"  {names.get(output, output)}: {said.get(output, 'waiting for a worker')}")
    return table
