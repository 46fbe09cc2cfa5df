"""Scaling of `doodle batch`: the same small jobs one after another in one process, then on Ray.

    python benchmarks/batch.py                    # 24 jobs: one process, embedded Ray with 1 and 2 workers, 2 nodes
    python benchmarks/batch.py --jobs 8 --iterations 10    # a quicker look

The jobs are paintings of the Coastline doodle in Monet's style (the shared samples) at --size,
each with its own seed, written to a fresh folder per setting. "One process" runs each job's
request through the same code as a Ray task does (`doodle.batch._execute`: one network loaded once,
torch on one thread), without Ray. Each Ray setting starts its cluster inside the timed span, so
its overhead counts the cluster's start, the workers' start (Python and torch in each), the
scheduling and the manifest; it gains the style's features computed once for all jobs. The
simulated two-node cluster is `ray.cluster_utils.Cluster` on this machine (one CPU a node).
Results are a Markdown table headed by the machine, the command and the date.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import header, samples  # noqa: E402


def write_jobs(folder: Path, count: int, size: str, iterations: int) -> Path:
    source = samples()
    jobs = [f'[defaults]\nstyle = "{source / "Monet.jpg"}"\nmap = "{source / "Coastline_sem.png"}"\n'
            f'size = "{size}"\niterations = {iterations}\nphases = 1\n']
    jobs += [f'\n[[paint]]\noutput = "out/coast-{index:02d}.png"\nseed = {index}\n' for index in range(count)]
    path = folder / "jobs.toml"
    path.write_text("".join(jobs))
    return path


def one_process(folder: Path, count: int, size: str, iterations: int) -> float:
    import torch

    from doodle.batch import _execute
    from doodle.jobs import read_jobs, request_for

    torch.set_num_threads(1)
    jobs = read_jobs(write_jobs(folder, count, size, iterations))
    started = time.perf_counter()
    for job in jobs.jobs:
        _execute(job.kind, request_for(job, force=False), lambda text: None, None)
    return time.perf_counter() - started


def on_ray(folder: Path, count: int, size: str, iterations: int, cpus: int | None, address: str | None) -> float:
    from doodle.batch import BatchOptions, run_batch
    from doodle.batch_plan import plan_jobs
    from doodle.jobs import read_jobs
    from doodle.manifest import Manifest, manifest_path

    jobs = read_jobs(write_jobs(folder, count, size, iterations))
    manifest = Manifest(manifest_path(jobs.path))
    started = time.perf_counter()
    record = run_batch(jobs, manifest, BatchOptions(address=address, cpus=cpus), plan_jobs(jobs, manifest))
    seconds = time.perf_counter() - started
    if len(record.done) != count:
        sys.exit(f"only {len(record.done)} of {count} jobs were done: {record.failed}")
    return seconds


def two_nodes(folder: Path, count: int, size: str, iterations: int) -> float:
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    ray_constants.ENABLE_RAY_CLUSTER = False  # every node on the loopback address, as on a laptop
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        on_ray(folder, count, size, iterations, None, cluster.address)
        return time.perf_counter() - started  # the cluster's start counts, as the embedded one's does
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--size", default="128x96", help="WIDTHxHEIGHT of each painting")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--only", nargs="+", choices=["one", "ray1", "ray2", "nodes"],
                        default=["one", "ray1", "ray2", "nodes"])
    arguments = parser.parse_args()
    import os

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the simulated nodes' own processes too
    header(f"doodle batch: {arguments.jobs} paintings at {arguments.size}, {arguments.iterations} iterations")
    print("| setting | seconds | jobs/minute | against one process |")
    print("| --- | ---: | ---: | ---: |")
    baseline = None
    runs = {"one": ("one process, one after another (no Ray)", None),
            "ray1": ("embedded Ray, 1 worker (1 CPU)", 1), "ray2": ("embedded Ray, 2 workers (2 CPUs)", 2),
            "nodes": ("simulated cluster, 2 nodes of 1 CPU", "nodes")}
    for name in arguments.only:
        label, how = runs[name]
        with tempfile.TemporaryDirectory() as folder:
            if how is None:
                seconds = one_process(Path(folder), arguments.jobs, arguments.size, arguments.iterations)
            elif how == "nodes":
                seconds = two_nodes(Path(folder), arguments.jobs, arguments.size, arguments.iterations)
            else:
                import ray

                seconds = on_ray(Path(folder), arguments.jobs, arguments.size, arguments.iterations, how, None)
                ray.shutdown()
        baseline = baseline if baseline is not None else seconds if how is None else None
        against = f"{seconds / baseline:.2f}x the time" if baseline else "-"
        print(f"| {label} | {seconds:.1f} | {arguments.jobs / seconds * 60:.1f} | {against} |", flush=True)


if __name__ == "__main__":
    main()
