"""`doodle batch`: the jobs file checked whole before any work (no Ray needed), and real runs on an
embedded Ray: a worker killed mid-job is retried, a bad job fails alone with its message in the
manifest, a second run does nothing twice, and a simulated two-node cluster gets work on both."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doodle import synthesis
from doodle.config import PaintConfig
from doodle.errors import DoodleError
from doodle.jobs import read_jobs, request_for
from doodle.manifest import Manifest, manifest_path

from .helpers import BLUE, RED, textured_style, two_region_map

TINY = 'size = "48x48"\nphases = 1\niterations = 4\nstyle-layers = "relu3_1"\n'


@pytest.fixture
def folder(tmp_path):
    """A style with its map, three doodles of its colours, and a jobs file painting them."""
    Image.fromarray((textured_style(48, 48) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(two_region_map(48, 48)).save(tmp_path / "style_sem.png")
    for index, split in enumerate((0.3, 0.5, 0.7)):
        Image.fromarray(two_region_map(48, 48, RED, BLUE, split)).save(tmp_path / f"doodle{index}.png")
    return tmp_path


def jobs_text(count: int = 3, extra: str = "", iterations: int = 4) -> str:
    jobs = "".join(f'\n[[paint]]\nmap = "doodle{index % 3}.png"\noutput = "out/p{index}.png"\nseed = {index}\n'
                   for index in range(count))
    tiny = TINY.replace("iterations = 4", f"iterations = {iterations}")
    return f'[defaults]\nstyle = "style.png"\n{tiny}{jobs}{extra}'


# --- the jobs file, checked up front ---------------------------------------------------------


def test_defaults_merge_and_paths_are_relative_to_the_jobs_file(folder, monkeypatch):
    (folder / "jobs.toml").write_text(jobs_text(2))
    monkeypatch.chdir("/")
    jobs = read_jobs(folder / "jobs.toml")
    assert [job.line for job in jobs.jobs] == [8, 13] and [job.kind for job in jobs.jobs] == ["paint", "paint"]
    first = jobs.jobs[0].options
    assert first["style"] == str(folder / "style.png") and first["output"] == str(folder / "out/p0.png")
    assert first["style_layers"] == "relu3_1" and first["iterations"] == 4 and first["seed"] == 0
    request = request_for(jobs.jobs[1], force=False)
    assert request.config.iterations == 4 and request.size == (48, 48) and request.style_maps[0].name == "style_sem.png"


@pytest.mark.parametrize("extra, message", [
    ('\n[[paint]]\nmap = "doodle0.png"\noutput = "out/x.png"\nstlye-weight = 2\n',
     r"line 26: 'stlye_weight' is not an option of a paint job; did you mean 'style_weight'\?"),
    ('\n[[paint]]\nmap = "doodle0.png"\n', r"line 23 \(paint job 4\): give its 'output'"),
    ('\n[[paint]]\nmap = "doodle0.png"\noutput = "out/p1.png"\n', r"line 23 \(paint job 4\): writes .*p1.png, as line 13"),
    ('\n[[paint]]\nmap = "missing.png"\noutput = "out/x.png"\n', r"line 23 \(paint job 4\): .*missing.png"),
    ('\n[[draw]]\noutput = "x.png"\n', r"line 23: \[\[draw\]\] is not a kind of job"),
    ('\n[[paint]]\noutput = \n', r"not valid TOML: .*line 24"),
    ('\n[[train]]\noutput = "out/m.doodle"\nsize = 64\nsteps = "many"\n', r"line 23 \(train job 1\): steps = 'many': give a number"),
    ('\n[[paint]]\nmap = "doodle0.png"\noutput = 3\n', r"line 25: output = 3: give a path in quotes"),
    ('\n[[paint]]\nmap = "doodle0.png"\noutput = "out/x.png"\nsize = 256\n', r"line 26: size = 256: give WIDTHxHEIGHT"),
    ('\n[defaults2]\nx = 1\n', r"\[\[defaults2\]\] is not a kind of job"),
    ('\n[[video]]\nclip = "doodle0.png"\noutput = "out/v.avi"\nmodel = "m.doodle"\n', r"line 23 \(video job 1\): "),
])
def test_a_bad_jobs_file_is_refused_whole_with_the_line(folder, extra, message):
    from doodle.batch_plan import plan_jobs

    (folder / "jobs.toml").write_text(jobs_text(3, extra))
    with pytest.raises(DoodleError, match=message):
        jobs = read_jobs(folder / "jobs.toml")
        plan_jobs(jobs, Manifest(manifest_path(jobs.path)))
    assert not (folder / "out").exists() and not manifest_path(folder / "jobs.toml").exists()


def test_an_output_the_batch_did_not_write_is_refused_unless_forced(folder):
    from doodle.batch_plan import plan_jobs

    (folder / "out").mkdir()
    (folder / "out" / "p1.png").write_bytes(b"precious")
    (folder / "jobs.toml").write_text(jobs_text(2))
    jobs = read_jobs(folder / "jobs.toml")
    with pytest.raises(DoodleError, match=r"line 13 \(paint job 2\): .*p1.png already exists and this batch did not"):
        plan_jobs(jobs, Manifest(manifest_path(jobs.path)))
    (folder / "jobs.toml").write_text(jobs_text(2).replace("seed = 1", "seed = 1\nforce = true"))
    jobs = read_jobs(folder / "jobs.toml")
    assert [item.force for item in plan_jobs(jobs, Manifest(manifest_path(jobs.path)))] == [False, True]


def test_shared_style_features_are_used_in_place_of_encoding():
    style, style_map = textured_style(48, 48), two_region_map(48, 48)
    doodle = two_region_map(48, 48, split=0.3)
    config = PaintConfig(phases=1, iterations=3, style_layers="relu3_1")
    shared = synthesis.style_features_of(style, style_map=style_map, target_map=doodle, config=config)
    alone = synthesis.paint(style, style_map=style_map, target_map=doodle, config=config)
    with_shared = synthesis.paint(style, style_map=style_map, target_map=doodle, config=config, style_features=shared)
    assert np.array_equal(alone.image, with_shared.image)
    doubled = {key: {layer: value * 2 for layer, value in features.items()} for key, features in shared.items()}
    changed = synthesis.paint(style, style_map=style_map, target_map=doodle, config=config, style_features=doubled)
    assert not np.array_equal(alone.image, changed.image)  # they were used, not encoded again
    cache: dict = {}  # a dict is filled as a cache (a clip's frames reuse it)
    first = synthesis.paint(style, style_map=style_map, target_map=doodle, config=config, style_features=cache)
    assert set(cache) == set(shared) and np.array_equal(first.image, alone.image)
    assert np.array_equal(synthesis.paint(style, style_map=style_map, target_map=doodle, config=config,
                                          style_features=cache).image, alone.image)


# --- real runs on Ray ------------------------------------------------------------------------


@pytest.fixture
def ray_local():
    ray = pytest.importorskip("ray")
    yield ray
    ray.shutdown()


def kill_first_worker_running_a_job(manifest: Manifest, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the worker of the first job that recorded its start (the record names its process)."""
    while not stop.is_set() and not killed:
        started = [item for item in manifest.records() if item["status"] == "started"]
        if started:
            os.kill(started[0]["pid"], signal.SIGKILL)
            killed.append(started[0]["pid"])
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_worker_is_retried_a_bad_job_fails_alone_and_a_rerun_does_nothing_twice(folder, ray_local):
    from doodle.batch import BatchOptions, run_batch
    from doodle.batch_plan import plan_jobs

    Image.fromarray(two_region_map(48, 96)).save(folder / "wide_sem.png")  # not the style's proportions
    bad = '\n[[paint]]\nmap = "doodle0.png"\nstyle-map = "wide_sem.png"\noutput = "out/bad.png"\n'
    # 1000 evaluations without early stop (tolerance 0): surely still running when the killer strikes
    (folder / "jobs.toml").write_text(jobs_text(3, bad, iterations=1000).replace("phases = 1", "phases = 1\ntolerance = 0"))
    jobs = read_jobs(folder / "jobs.toml")
    manifest = Manifest(manifest_path(jobs.path))
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_first_worker_running_a_job, args=(manifest, killed, stop), daemon=True)
    killer.start()
    try:
        record = run_batch(jobs, manifest, BatchOptions(cpus=2, retries=2), plan_jobs(jobs, manifest))
    finally:
        stop.set()
    assert killed, "no job recorded its start"
    assert sorted(Path(path).name for path in record.done) == ["p0.png", "p1.png", "p2.png"]
    assert list(record.failed) == [str(folder / "out/bad.png")]
    records = manifest.records()
    started = {}
    for item in records:
        if item["status"] == "started":
            started[Path(item["output"]).name] = started.get(Path(item["output"]).name, 0) + 1
    assert max(started.values()) == 2 and sum(started.values()) == 5  # one job ran twice: the killed one
    failure = manifest.latest()[str(folder / "out/bad.png")]
    assert failure["status"] == "failed" and "wide_sem.png" in failure["error"] and "\n" not in failure["error"]
    for name in ("p0.png", "p1.png", "p2.png"):
        assert Image.open(folder / "out" / name).size == (48, 48)

    again = plan_jobs(jobs, manifest)
    assert [item.skip for item in again] == [True, True, True, False]
    mtimes = {name: (folder / "out" / name).stat().st_mtime_ns for name in ("p0.png", "p1.png", "p2.png")}
    record = run_batch(jobs, manifest, BatchOptions(cpus=2), again)
    assert len(record.skipped) == 3 and not record.done and list(record.failed) == [str(folder / "out/bad.png")]
    assert {name: (folder / "out" / name).stat().st_mtime_ns for name in mtimes} == mtimes
    assert len([item for item in manifest.records() if item["status"] == "started"]) == 6  # only the bad one again
    assert [item.skip for item in plan_jobs(jobs, manifest)] == [True, True, True, False]  # and so on, every run


@pytest.mark.slow
def test_a_job_reading_another_jobs_output_waits_for_it_and_fails_when_it_fails(folder, ray_local):
    from doodle.batch import BatchOptions, run_batch
    from doodle.batch_plan import plan_jobs

    Image.fromarray(two_region_map(48, 96)).save(folder / "wide_sem.png")
    chain = ('\n[[paint]]\ncontent = "out/p0.png"\nno-maps = true\noutput = "out/again.png"\n'  # reads job 1's
             '\n[[paint]]\nmap = "doodle0.png"\nstyle-map = "wide_sem.png"\noutput = "out/bad.png"\n'
             '\n[[paint]]\ncontent = "out/bad.png"\nno-maps = true\noutput = "out/after-bad.png"\n')
    (folder / "jobs.toml").write_text(jobs_text(1, chain))
    jobs = read_jobs(folder / "jobs.toml")
    manifest = Manifest(manifest_path(jobs.path))
    planned = plan_jobs(jobs, manifest)  # out/p0.png does not exist yet: the job that reads it waits
    assert [item.needs for item in planned] == [(), (0,), (), (2,)] and planned[1].digest is None
    record = run_batch(jobs, manifest, BatchOptions(cpus=2), planned)
    assert sorted(Path(path).name for path in record.done) == ["again.png", "p0.png"]
    assert "not run: its input" in record.failed[str(folder / "out/after-bad.png")]
    started = [Path(item["output"]).name for item in manifest.records() if item["status"] == "started"]
    assert started.index("p0.png") < started.index("again.png") and "after-bad.png" not in started
    again = plan_jobs(jobs, manifest)  # everything made exists now: the chain is skipped as a whole
    assert [item.skip for item in again] == [True, True, False, False]


def test_jobs_that_need_each_other_are_refused(folder):
    from doodle.batch_plan import plan_jobs

    loop = ('\n[[paint]]\ncontent = "out/b.png"\nno-maps = true\noutput = "out/a.png"\n'
            '\n[[paint]]\ncontent = "out/a.png"\nno-maps = true\noutput = "out/b.png"\n')
    (folder / "jobs.toml").write_text(jobs_text(0, loop))
    jobs = read_jobs(folder / "jobs.toml")
    with pytest.raises(DoodleError, match=r"need each other's outputs"):
        plan_jobs(jobs, Manifest(manifest_path(jobs.path)))


@pytest.mark.slow
def test_a_simulated_two_node_cluster_runs_jobs_on_both_nodes(folder, monkeypatch):
    pytest.importorskip("ray")
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    # Every node of the simulated cluster on the loopback address (this machine's own, not the one
    # Ray would find for talking to other machines): as Ray does on a laptop.
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    from doodle.batch import BatchOptions, run_batch
    from doodle.batch_plan import plan_jobs

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "node_ip_address": "127.0.0.1"})
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        long_jobs = jobs_text(4, iterations=200).replace("phases = 1", "phases = 1\ntolerance = 0")
        (folder / "jobs.toml").write_text(long_jobs)  # long enough to need both nodes
        jobs = read_jobs(folder / "jobs.toml")
        manifest = Manifest(manifest_path(jobs.path))
        record = run_batch(jobs, manifest, BatchOptions(address=cluster.address), plan_jobs(jobs, manifest))
        assert len(record.done) == 4
        nodes = {item["node"] for item in manifest.records() if item["status"] == "started"}
        assert len(nodes) == 2 and None not in nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_job_with_a_model_does_not_take_the_default_style(folder):
    (folder / "jobs.toml").write_text(jobs_text(1, '\n[[video]]\nclip = "clip"\nmodel = "m.doodle"\noutput = "v.mp4"\n'))
    video = read_jobs(folder / "jobs.toml").jobs[-1]
    assert video.kind == "video" and "style" not in video.options and video.options["model"].endswith("m.doodle")


def test_the_manifest_ignores_a_torn_last_line(tmp_path):
    manifest = Manifest(tmp_path / "jobs.manifest.jsonl")
    manifest.append({"output": "a.png", "status": "done"})
    with open(manifest.path, "a") as stream:
        stream.write('{"output": "b.png", "sta')
    assert list(manifest.latest()) == ["a.png"]
    assert json.loads(manifest.path.read_text().splitlines()[0])["status"] == "done"


def test_the_command_refuses_a_bad_jobs_file_in_one_line_before_starting_ray(folder):
    from typer.testing import CliRunner

    from doodle.cli import app

    (folder / "jobs.toml").write_text(jobs_text(2, '\n[[paint]]\nmap = "nowhere.png"\noutput = "out/x.png"\n'))
    result = CliRunner().invoke(app, ["batch", str(folder / "jobs.toml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "line 18 (paint job 3)" in errors[0] and "nowhere.png" in errors[0], result.output
    assert not manifest_path(folder / "jobs.toml").exists()


def test_the_example_jobs_file_is_valid():
    example = Path(__file__).resolve().parent.parent / "examples" / "portraits-and-coasts.jobs.toml"
    samples = example.parent.parent.parent / "shared" / "samples"
    if not samples.is_dir():
        pytest.skip(f"the shared samples are not at {samples}")
    jobs = read_jobs(example)
    assert [job.kind for job in jobs.jobs] == ["paint"] * 4
    for job in jobs.jobs:
        request = request_for(job, force=True)
        assert request.output.parent == (example.parent.parent / "out" / "batch").resolve()
        assert request.size is not None and all(path.is_file() for path in request.styles)


@pytest.mark.slow
def test_a_model_painted_clip_spread_over_ray_is_the_clip_painted_on_one_machine(tmp_path, ray_local):
    """Chunks of frames painted by tasks, joined in order: frame for frame what doodle video paints
    alone (a folder output, lossless), and a video with every frame."""
    from doodle.video.clips import ClipWriter, open_clip
    from doodle.video.distributed import paint_clip_on_ray
    from doodle.video.motion import animated_doodle
    from doodle.video.painting import paint_clip, painted_frames
    from doodle.video_request import video_request

    from .test_feedforward import tiny_model

    clip = animated_doodle(two_region_map(32, 32, BLUE, RED), frames=7, shapes=2, seed=1)
    with ClipWriter(tmp_path / "doodles", 12) as writer:
        for frame in clip.frames:
            writer.write(frame)
    tiny_model()[0].save(tmp_path / "m.doodle")
    settings = {"model": tmp_path / "m.doodle"}
    quiet = {"on_frame": lambda done: None, "on_note": lambda text: None}
    paint_clip(video_request(tmp_path / "doodles", tmp_path / "alone", settings=settings), **quiet)
    record = paint_clip_on_ray(video_request(tmp_path / "doodles", tmp_path / "spread", settings=settings), "local",
                               chunk_frames=3, **quiet)
    assert record.painted == 7 and record.written == tmp_path / "spread"
    alone, spread = painted_frames(tmp_path / "alone"), painted_frames(tmp_path / "spread")
    assert len(spread) == 7
    for one, other in zip(alone, spread):
        assert np.array_equal(np.asarray(Image.open(one)), np.asarray(Image.open(other)))
    from typer.testing import CliRunner

    from doodle.cli import app

    result = CliRunner().invoke(app, ["video", str(tmp_path / "doodles"), "--model", str(tmp_path / "m.doodle"),
                                      "--address", "local", "-o", str(tmp_path / "spread.mp4"), "-q"])
    assert result.exit_code == 0, result.output
    assert open_clip(tmp_path / "spread.mp4").frame_count == 7 and not (tmp_path / "spread_frames").exists()


@pytest.mark.slow
@pytest.mark.parametrize("cancel", [False, True])
def test_ctrl_c_stops_scheduling_and_leaves_the_manifest_true(folder, cancel):
    """A stop signal while the first job runs: no other job starts; the running one finishes (or,
    with --cancel, is cancelled), and the manifest says so; exit code 130."""
    import subprocess
    import sys

    pytest.importorskip("ray")
    # tolerance 0: no early stop, so the first job surely still runs when the signal comes
    (folder / "jobs.toml").write_text(jobs_text(3, iterations=3000).replace("phases = 1", "phases = 1\ntolerance = 0"))
    manifest = Manifest(manifest_path(folder / "jobs.toml"))
    # Ctrl-C's default handling, whatever this process inherited: a job started in the background by
    # a shell without job control (as some CI runners start theirs) has SIGINT ignored, and doodle
    # leaves an ignored signal ignored.
    restored = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "runpy.run_module('doodle', run_name='__main__', alter_sys=True)")
    command = [sys.executable, "-c", restored, "batch", str(folder / "jobs.toml"), "--cpus", "1", "--quiet"]
    process = subprocess.Popen(command + ["--cancel"] * cancel, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    deadline = time.monotonic() + 120
    while not any(item["status"] == "started" for item in manifest.records()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=180)[0]
    assert process.returncode == 130, output
    statuses = [(Path(item["output"]).name, item["status"]) for item in manifest.records()]
    ending = "cancelled" if cancel else "done"
    assert statuses == [("p0.png", "started"), ("p0.png", ending)], (statuses, output)
    assert (folder / "out" / "p0.png").exists() != cancel and not (folder / "out" / "p1.png").exists()


# --- hostile jobs files ----------------------------------------------------------------------

KEYS = ["style", "style-map", "map", "content", "output", "size", "iterations", "seed", "steps", "kind", "clip",
        "model", "force", "no-maps", "preset", "fps", "style_weight", "init", "bogus"]


def toml_value(draw_value):
    from hypothesis import strategies as st

    return st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                     st.sampled_from(["style.png", "doodle0.png", "out/a.png", "48x48", "x", "", "../..", "m.doodle",
                                      "noise", "vgg16", "a\u202eb", "nowhere.png"]),
                     st.lists(st.sampled_from(["style.png", "out/b.png", "3"]), max_size=3))


def toml_text(value) -> str:
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_text(item) for item in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def test_any_jobs_file_is_planned_or_refused_in_one_line(folder):
    """Random tables, keys and values of every TOML type: reading and planning either succeed or
    raise one DoodleError line; nothing else escapes, nothing is written."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from doodle.batch_plan import plan_jobs

    table = st.lists(st.tuples(st.sampled_from(KEYS), toml_value(None)), max_size=6)
    kinds = st.sampled_from(["[defaults]", "[[paint]]", "[[train]]", "[[video]]", "[[draw]]", "[paint]", ""])

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.tuples(kinds, table), min_size=1, max_size=4))
    def check(sections):
        lines = []
        for header, pairs in sections:
            lines.append(header)
            seen = set()
            for key, value in pairs:
                if key not in seen:  # TOML itself refuses a key twice; that path is tested above
                    seen.add(key)
                    lines.append(f"{key} = {toml_text(value)}")
        (folder / "jobs.toml").write_text("\n".join(lines) + "\n")
        try:
            jobs = read_jobs(folder / "jobs.toml")
            plan_jobs(jobs, Manifest(manifest_path(jobs.path)))
        except DoodleError as error:
            assert "\n" not in str(error) and str(error)
        assert not (folder / "out").exists() and not manifest_path(folder / "jobs.toml").exists()

    check()


def test_a_dry_run_says_what_each_job_would_do_and_runs_nothing(folder):
    from typer.testing import CliRunner

    from doodle.cli import app

    chain = '\n[[paint]]\ncontent = "out/p0.png"\nno-maps = true\noutput = "out/again.png"\n'
    (folder / "jobs.toml").write_text(jobs_text(2, chain))
    result = CliRunner().invoke(app, ["batch", str(folder / "jobs.toml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("line ")]
    assert lines[0].endswith("p0.png: run") and lines[2].endswith("again.png: run after line 8 (paint job 1)")
    assert not (folder / "out").exists() and not manifest_path(folder / "jobs.toml").exists()


def test_the_live_view_counts_states_gives_an_eta_and_says_what_each_running_job_does():
    from rich.console import Console

    from doodle.cli_batch import progress_table

    console = Console(width=100, record=True)
    console.print(progress_table({"state": {"a": "done", "b": "running", "c": "running", "d": "queued"},
                                  "said": {"b": "phase 1/3, evaluation 4/40"}, "seconds": 12.0},
                                 {"a": "paint a.png", "b": "paint b.png", "c": "paint c.png"}, 4))
    text = console.export_text()
    assert "1/4 finished: 1 done, 2 running, 1 queued (12 s, about 36 s left)" in text
    assert "paint b.png: phase 1/3, evaluation 4/40" in text and "paint c.png: waiting for a worker" in text
