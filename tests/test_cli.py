"""Every bad input gets a one-line error, exit code 2, and no output file; good input paints."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from doodle.cli import app

from .helpers import BLUE, RED, disc, halves, stripes_and_dots, textured_style, two_region_map

FAST = ["--phases", "1", "--iterations", "3", "--quiet"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") and "\n" not in message, message
    for word in words:
        assert word in message, message


def assert_refused(result, output, *words):
    assert_one_line_error(result, *words)
    assert not output.exists()


def test_paints_a_doodle(files):
    output = files / "out" / "painting.png"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output, *FAST)
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (24, 24)
    assert "doodle mode" in result.output


def test_doodle_found_beside_output(files):
    Image.fromarray(two_region_map(48, 48)).save(files / "coast_sem.png")
    result = run("paint", "--style", files / "style.png", "--output", files / "coast.png", *FAST)
    assert result.exit_code == 0, result.output
    assert (files / "coast.png").exists()


def test_texture_and_frames(files):
    output = files / "texture.png"
    result = run("paint", "--style", files / "style.png", "--no-maps", "--size", "40x32", "--output", output,
                 "--save-every", "2", *FAST)
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (40, 32)
    assert sorted(p.name for p in (files / "texture_frames").iterdir()) == ["phase1_0002.png"]


def test_refuses_to_overwrite_without_force(files):
    output = files / "painting.png"
    output.write_bytes(b"precious")
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output, *FAST)
    assert result.exit_code == 2 and output.read_bytes() == b"precious"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output,
                 "--force", *FAST)
    assert result.exit_code == 0 and output.read_bytes() != b"precious"


@pytest.mark.parametrize("case", ["missing style", "missing map", "not an image", "aspect", "one side",
                                  "output is input", "unwritable", "too small", "bad size", "bad layer",
                                  "bad option", "memory"])
def test_bad_input(files, case, monkeypatch):
    output = files / "out.png"
    style, doodle_map = files / "style.png", files / "doodle.png"
    args = ["paint", "--style", style, "--map", doodle_map, "--output", output, *FAST]
    words = []
    if case == "missing style":
        args[2], words = files / "nope.jpg", ["nope.jpg", "no such"]
    elif case == "missing map":
        args[4], words = files / "nope_sem.png", ["nope_sem.png"]
    elif case == "not an image":
        (files / "text.png").write_text("hello")
        args[4], words = files / "text.png", ["text.png", "not an image"]
    elif case == "aspect":
        Image.fromarray(two_region_map(48, 96)).save(files / "wide_sem.png")
        args += ["--style-map", files / "wide_sem.png"]
        words = ["wide_sem.png", "aspect"]
    elif case == "one side":
        (files / "style_sem.png").unlink()
        words = ["--style-map", "--no-maps"]
    elif case == "output is input":
        output = files / "doodle.png"
        args[6], words = output, ["overwrite an input"]
        output = files / "never.png"
    elif case == "unwritable":
        (files / "blocker").write_text("a file, not a folder")
        output = files / "blocker" / "out.png"
        args[6], words = output, ["cannot create"]
    elif case == "too small":
        Image.fromarray(two_region_map(12, 12)).save(files / "tiny.png")
        args[4], words = files / "tiny.png", ["at least", "px"]
    elif case == "bad size":
        args += ["--size", "big"]
        words = ["WIDTHxHEIGHT"]
    elif case == "bad layer":
        args += ["--style-layers", "relu9_9"]
        words = ["relu9_9"]
    elif case == "bad option":
        args += ["--pooling", "median"]
        words = ["--pooling"]
    elif case == "memory":
        import doodle.memory

        monkeypatch.setattr(doodle.memory, "available_memory", lambda device: 4096)
        words = ["MiB", "style.png (worked at 48x48)", "smaller style image"]
    assert_refused(run(*args), output, *words)


def test_weights_command_lists_both_models():
    result = run("weights")
    assert result.exit_code == 0, result.output
    assert "vgg16: available" in result.output and "vgg19:" in result.output
    assert "sha256:" in result.output


def test_score_command(files):
    style = files / "style.png"
    result = run("score", style, "--map", files / "style_sem.png", "--style", style)
    assert result.exit_code == 0, result.output
    assert "region score: 1.000" in result.output
    result = run("score", files / "missing.png", "--map", files / "style_sem.png", "--style", style)
    assert result.exit_code == 2 and "missing.png" in result.output


def ctrl_c_as_in_a_terminal() -> None:
    """In the child: Ctrl-C acts as in a terminal, even where this test runs as a background job
    (which starts with Ctrl-C ignored, and a Python started so never sees it)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_the_image_so_far(files):
    """A real SIGINT to a real `doodle paint`: it stops, writes the current image, exits 130."""
    import signal
    import subprocess
    import sys
    import time

    output = files / "stopped.png"
    command = [sys.executable, "-m", "doodle.cli", "paint", "--style", str(files / "style.png"),
               "--map", str(files / "doodle.png"), "--output", str(output), "--phases", "1",
               "--iterations", "100000", "--tolerance", "0", "--save-every", "1"]  # never converges on its own
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ctrl_c_as_in_a_terminal)
    frames = files / "stopped_frames"
    deadline = time.monotonic() + 120
    while not (frames.exists() and any(frames.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    assert "interrupted" in out and Image.open(output).size == (24, 24)


def test_unavailable_model_and_device_are_one_line_errors(files, monkeypatch, tmp_path):
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr("doodle.weights.network_answers", lambda *args, **kwargs: False)
    output = files / "out.png"
    base = ["paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output, *FAST]
    assert_refused(run(*base, "--model", "vgg19"), output, "VGG19", "vgg16")
    if not torch.cuda.is_available():
        assert_refused(run(*base, "--device", "cuda"), output, "--device cpu")


@pytest.fixture
def photos(tmp_path):
    """Two pictures of stripes and dots in different layouts, with no maps."""
    for name, truth, seed in (("a.png", halves(64, 64), 0), ("b.png", disc(64, 80), 1)):
        Image.fromarray((stripes_and_dots(truth, seed) * 255).astype(np.uint8)).save(tmp_path / name)
    return tmp_path


def test_segment_writes_maps_beside_the_images_and_a_preview(photos):
    result = run("segment", photos / "a.png", photos / "b.png", "--method", "cluster")
    assert result.exit_code == 0, result.output
    assert "cluster method, 2 labels" in result.output
    maps = [np.asarray(Image.open(photos / name)) for name in ("a_sem.png", "b_sem.png")]
    assert maps[0].shape == (64, 64, 3) and maps[1].shape == (64, 80, 3)
    assert {tuple(c) for c in maps[0].reshape(-1, 3)} == {tuple(c) for c in maps[1].reshape(-1, 3)}
    assert Image.open(photos / "a+b_preview.png").width >= 3 * 64
    # Maps are never overwritten unless asked, and a refusal changes nothing.
    before = (photos / "a_sem.png").read_bytes()
    result = run("segment", photos / "a.png", photos / "b.png", "--method", "cluster")
    assert result.exit_code == 2 and "--force" in result.output and "--output-dir" in result.output
    assert (photos / "a_sem.png").read_bytes() == before
    result = run("segment", photos / "a.png", photos / "b.png", "--method", "cluster", "--labels", "3",
                 "--force", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    assert len({tuple(c) for c in np.asarray(Image.open(photos / "a_sem.png")).reshape(-1, 3)}
               | {tuple(c) for c in np.asarray(Image.open(photos / "b_sem.png")).reshape(-1, 3)}) == 3


@pytest.mark.parametrize("case", ["missing", "method", "labels", "dir is a file", "same name"])
def test_segment_bad_input(photos, case):
    args = ["segment", photos / "a.png"]
    if case == "missing":
        args, words = ["segment", photos / "nope.png"], ["nope.png", "no such"]
    elif case == "method":
        args, words = args + ["--method", "magic"], ["--method", "cluster"]
    elif case == "labels":
        args, words = args + ["--labels", "40"], ["--labels", "2 to 12"]
    elif case == "dir is a file":
        (photos / "file").write_text("x")
        args, words = args + ["--output-dir", photos / "file"], ["--output-dir", "is a file"]
    else:
        (photos / "other").mkdir()
        Image.open(photos / "a.png").save(photos / "other" / "a.png")
        args, words = args + [photos / "other" / "a.png", "--output-dir", photos / "maps"], ["same map"]
    assert_one_line_error(run(*args), *words)
    assert not (photos / "a_sem.png").exists() and not (photos / "maps").exists()


def test_paint_auto_maps_makes_both_maps_and_says_so(photos):
    output = photos / "painting.png"
    result = run("paint", "--style", photos / "a.png", "--content", photos / "b.png", "--auto-maps",
                 "--output", output, *FAST)
    assert result.exit_code == 0, result.output
    assert "made the maps automatically (cluster method" in result.output
    assert "semantic mode" in result.output and Image.open(output).size == (80, 64)
    assert not (photos / "a_sem.png").exists()  # made in memory; doodle segment saves them


@pytest.mark.parametrize("case", ["no content", "one map", "with no-maps"])
def test_paint_auto_maps_refusals(photos, case):
    output = photos / "painting.png"
    args = ["paint", "--style", photos / "a.png", "--content", photos / "b.png", "--auto-maps", "--output", output,
            *FAST]
    if case == "no content":
        Image.fromarray(two_region_map(64, 64)).save(photos / "doodle.png")
        args, words = ["paint", "--style", photos / "a.png", "--map", photos / "doodle.png", "--auto-maps",
                       "--output", output, *FAST], ["--content", "doodle segment"]
    elif case == "one map":
        Image.fromarray(two_region_map(64, 64)).save(photos / "a_sem.png")
        words = ["a_sem.png", "b.png", "share"]
    else:
        args, words = args + ["--no-maps"], ["--no-maps", "--auto-maps"]
    assert_refused(run(*args), output, *words)


def test_paint_auto_maps_keeps_maps_that_exist(photos):
    Image.fromarray(two_region_map(64, 64)).save(photos / "a_sem.png")
    Image.fromarray(two_region_map(64, 80)).save(photos / "b_sem.png")
    result = run("paint", "--style", photos / "a.png", "--content", photos / "b.png", "--auto-maps",
                 "--output", photos / "painting.png", *FAST)
    assert result.exit_code == 0, result.output
    assert "used as they are" in result.output and "made the maps" not in result.output


def test_presets_command_lists_every_preset_with_its_flags():
    result = run("presets")
    assert result.exit_code == 0, result.output
    for name in ("doodle:", "portrait:", "painterly:", "flat:"):
        assert name in result.output
    assert "--style-layers relu1_1:0,relu2_1:5,relu3_1:5,relu4_1:0,relu5_1:0" in result.output


def capture_config(monkeypatch):
    """Replace the engine with a recorder: what config and styles would the CLI paint with?"""
    import doodle.synthesis

    seen = {}

    def fake_paint(style, **options):
        seen.update(options, style=style)
        raise KeyboardInterrupt  # stop before anything is written

    monkeypatch.setattr(doodle.synthesis, "paint", fake_paint)
    return seen


def test_preset_values_apply_and_typed_flags_override_them(files, monkeypatch):
    seen = capture_config(monkeypatch)
    run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", files / "out.png",
        "--preset", "flat", "--style-weight", "0.2", "--phases", "3")
    config = seen["config"]
    assert config.style_loss_weights == {"gram": 1.0} and config.style_layer_names == ("relu2_1", "relu3_1")
    assert config.style_weight == 0.2 and config.iterations == 170  # typed flag wins, preset fills the rest
    # typing a flag at its default value still overrides the preset
    run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", files / "out.png",
        "--preset", "flat", "--smoothness", "1.0")
    assert seen["config"].smoothness == 1.0


def test_several_styles_each_with_their_map(files, monkeypatch):
    Image.fromarray((textured_style(40, 40, seed=2) * 255).astype(np.uint8)).save(files / "other.png")
    result = run("paint", "--style", files / "style.png", "--style", files / "other.png", "--map",
                 files / "doodle.png", "--output", files / "out.png", *FAST)
    assert result.exit_code == 2 and "other.png: has no map" in result.output
    Image.fromarray(two_region_map(40, 40)).save(files / "other_sem.png")
    seen = capture_config(monkeypatch)
    run("paint", "--style", files / "style.png", "--style", files / "other.png", "--map", files / "doodle.png",
        "--output", files / "out.png", "--style-blend", "0.7,0.3")
    assert [str(p) for p in seen["style"]] == [str(files / "style.png"), str(files / "other.png")]
    assert [str(p) for p in seen["style_map"]] == [str(files / "style_sem.png"), str(files / "other_sem.png")]
    assert seen["config"].style_blend == (0.7, 0.3)


def test_several_styles_paint_end_to_end(files):
    Image.fromarray((textured_style(40, 40, seed=2) * 255).astype(np.uint8)).save(files / "other.png")
    output = files / "blend.png"
    result = run("paint", "--style", files / "style.png", "--style", files / "other.png", "--no-maps", "--size",
                 "32x32", "--style-blend", "1,1", "--style-loss", "patch:1,gram:1", "--output", output, *FAST)
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (32, 32)


@pytest.mark.parametrize("case", ["blend-count", "map-count", "colors-without-content", "bad-preset", "bad-loss",
                                  "init-noise-with-noise"])
def test_style_control_bad_input(files, case):
    output = files / "out.png"
    base = ["paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output, *FAST]
    args, words = {
        "blend-count": (["--style-blend", "1,2"], ["--style-blend", "one weight per"]),
        "map-count": (["--style-map", files / "style_sem.png", "--style-map", files / "doodle.png"], ["--style-map"]),
        "colors-without-content": (["--colors", "original"], ["needs --content"]),
        "bad-preset": (["--preset", "cubist"], ["doodle presets"]),
        "bad-loss": (["--style-loss", "mrf"], ["--style-loss"]),
        "init-noise-with-noise": (["--init-noise", "0.5"], ["--init content"]),
    }[case]
    assert_refused(run(*base, *args), output, *words)


@pytest.fixture
def references(tmp_path):
    """Two references of one 'style' (stripes left, dots right, in two sizes) with their maps."""
    for name, size, seed in (("ref1", 48, 0), ("ref2", 40, 3)):
        Image.fromarray((textured_style(size, size, seed=seed) * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
        Image.fromarray(two_region_map(size, size)).save(tmp_path / f"{name}_sem.png")
    return tmp_path


def test_texture_makes_an_exemplar_with_its_map_usable_as_style(references):
    output = references / "exemplar.png"
    result = run("texture", references / "ref1.png", references / "ref2.png", "--weights", "2,1", "--output", output,
                 "--iterations", "5", "--phases", "1", "--style-layers", "relu1_1,relu2_1,relu3_1", "--quiet")
    assert result.exit_code == 0, result.output
    exemplar = np.asarray(Image.open(output)) / 255.0
    assert exemplar.shape == (48, 48, 3)  # the first reference's layout
    layout = np.asarray(Image.open(references / "exemplar_sem.png"))
    assert np.array_equal(layout, two_region_map(48, 48))
    # the exemplar carries the references' look per label: orange on the stripes' side
    assert exemplar[:, :20, 0].mean() - exemplar[:, :20, 2].mean() > exemplar[:, 28:, 0].mean() - exemplar[:, 28:, 2].mean() + 0.3
    painting = references / "painting.png"
    Image.fromarray(two_region_map(32, 32, BLUE, RED)).save(references / "doodle.png")
    result = run("paint", "--style", output, "--map", references / "doodle.png", "--output", painting, *FAST)
    assert result.exit_code == 0 and painting.exists(), result.output


def test_texture_without_maps_and_its_refusals(references):
    output = references / "plain.png"
    result = run("texture", references / "ref1.png", references / "ref2.png", "--no-maps", "--size", "40x24",
                 "--output", output, "--iterations", "3", "--phases", "1", "--style-layers", "relu1_1,relu2_1", "-q")
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (40, 24) and not (references / "plain_sem.png").exists()
    before = output.read_bytes()
    again = run("texture", references / "ref1.png", "--no-maps", "--output", output, "-q")
    assert again.exit_code == 2 and "--force" in again.output and output.read_bytes() == before
    assert_refused(run("texture", references / "ref1.png", "--weights", "1,2", "--output", references / "x.png"),
                   references / "x.png", "--weights")
    assert_refused(run("texture", references / "ref1.png", "--no-maps", "--map", references / "ref1_sem.png",
                       "--output", references / "y.png"), references / "y.png", "--no-maps")



def test_texture_never_overwrites_its_own_layout(references):
    from shutil import copyfile

    copyfile(references / "ref1_sem.png", references / "exemplar_sem.png")
    result = run("texture", references / "ref1.png", "--map", references / "exemplar_sem.png", "--output",
                 references / "exemplar.png", "--force", "-q")
    assert_refused(result, references / "exemplar.png", "overwrite an input")


def test_texture_says_when_maps_are_not_used(references):
    Image.fromarray((textured_style(40, 40, seed=5) * 255).astype(np.uint8)).save(references / "bare.png")
    result = run("texture", references / "ref1.png", references / "bare.png", "--output", references / "t.png",
                 "--iterations", "2", "--phases", "1", "--style-layers", "relu1_1,relu2_1", "-q")
    assert result.exit_code == 0 and "bare.png has no map" in result.output, result.output
    assert not (references / "t_sem.png").exists()


def test_a_clash_with_a_preset_value_names_the_preset(files):
    output = files / "out.png"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output,
                 "--preset", "flat", "--init", "noise", "--init-noise", "0.5", *FAST)
    assert_refused(result, output, "--init content", "--preset flat")


def test_content_presets_paint_doodles_from_noise(files):
    output = files / "out.png"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output,
                 "--preset", "painterly", "--phases", "1", "--iterations", "3", "--size", "48x48")
    assert result.exit_code == 0 and output.exists(), result.output
    assert "starts from noise" in result.output


def test_the_cli_starts_without_torch():
    """--help, presets, weights and --version must answer at once: none of them imports torch."""
    import subprocess
    import sys

    check = ("; loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', "
             "'segmentation')); assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", "import sys, doodle.cli" + check], check=True)
    for command in (["presets"], ["weights"], ["--version"], ["paint", "--help"]):
        code = (f"import sys\nfrom typer.testing import CliRunner\nfrom doodle.cli import app\n"
                f"result = CliRunner().invoke(app, {command!r})\nassert result.exit_code == 0, result.output{check}")
        subprocess.run([sys.executable, "-c", code], check=True)


def test_paths_are_never_read_as_markup(files):
    output = files / "out.png"
    result = run("paint", "--style", files / "x[/].jpg", "--output", output, *FAST)
    assert_refused(result, output, "x[/].jpg", "no such")



@pytest.fixture
def trained(files):
    """A tiny doodle model of the style, made with the real trainer through the CLI."""
    model = files / "tiny.doodle"
    result = run("train", "--style", files / "style.png", "--output", model, "--size", "64", "--steps", "3",
                 "--width", "8", "--style-layers", "relu1_1,relu2_1", "--content-weight", "0", "--preview-every", "2",
                 "--quiet")
    assert result.exit_code == 0, result.output
    return model


def test_train_paint_with_the_model_and_describe_it(files, trained):
    assert (files / "tiny_preview.png").exists()
    output = files / "fast.png"
    result = run("paint", "--model", trained, "--map", files / "doodle.png", "--output", output, "-q")
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (24, 24) and "tiny.doodle, a doodle model" in result.output
    info = run("model", trained)
    assert info.exit_code == 0 and "doodle" in info.output and "3 of 3 steps" in info.output
    resumed = run("train", "--style", files / "style.png", "--output", trained, "--resume", "--steps", "4",
                  "--size", "64", "--width", "8", "--style-layers", "relu1_1,relu2_1", "--content-weight", "0", "-q")
    assert resumed.exit_code == 0, resumed.output
    assert "4 of 4 steps" in run("model", trained).output


def test_init_from_a_model(files, trained):
    output = files / "finished.png"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--init", trained,
                 "--output", output, *FAST)
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (24, 24)


@pytest.mark.parametrize("case", ["no map", "bad kind", "not .doodle", "exists", "resume missing", "small size",
                                  "content dir with doodle"])
def test_train_bad_input(files, case):
    output = files / "m.doodle"
    args = ["train", "--style", files / "style.png", "--output", output, "--steps", "1", "-q"]
    if case == "no map":
        (files / "style_sem.png").unlink()
        words = ["no map", "--kind content"]
    elif case == "bad kind":
        args, words = args + ["--kind", "cubist"], ["--kind", "doodle, content"]
    elif case == "not .doodle":
        output = files / "m.png"
        args[4], words = output, [".doodle"]
    elif case == "exists":
        output.write_bytes(b"precious")
        words = ["already exists", "--resume"]
    elif case == "resume missing":
        args, words = args + ["--resume"], ["no such model"]
    elif case == "small size":
        args, words = args + ["--size", "16"], ["--size must be at least 64"]
    else:
        args, words = args + ["--content-dir", files], ["--content-dir", "content model"]
    assert_one_line_error(run(*args), *words)
    if case == "exists":
        assert output.read_bytes() == b"precious"
    elif case != "resume missing":
        assert not output.exists()


def test_paint_with_a_bad_model_file_is_one_line(files):
    fake = files / "fake.doodle"
    fake.write_bytes(b"\x80\x04not a model")
    output = files / "out.png"
    assert_refused(run("paint", "--model", fake, "--map", files / "doodle.png", "--output", output), output,
                   "not a doodle model")
    assert_refused(run("paint", "--model", fake, "--style", files / "style.png", "--map", files / "doodle.png",
                       "--output", output), output, "drop --style")
    assert_refused(run("paint", "--output", output, "--map", files / "doodle.png"), output, "--style", "--model")
    assert_refused(run("model", files / "nope.doodle"), output, "no such model")


def test_optimisation_flags_with_a_model_are_noted_not_silently_dropped(files, trained):
    output = files / "noted.png"
    result = run("paint", "--model", trained, "--map", files / "doodle.png", "--output", output, "--iterations", "9")
    assert result.exit_code == 0 and "--iterations: for optimisation" in result.output, result.output
    assert_refused(run("paint", "--model", trained, "--content", files / "style.png", "--output", files / "x.png"),
                   files / "x.png", "give --map, not --content")


def test_ctrl_c_during_training_leaves_a_usable_model(files):
    """A real SIGINT to a real `doodle train`: it finishes the step under way, writes the model, exits 130."""
    import signal
    import subprocess
    import sys
    import time

    model = files / "stopped.doodle"
    command = [sys.executable, "-m", "doodle.cli", "train", "--style", str(files / "style.png"), "--output", str(model),
               "--size", "64", "--steps", "100000", "--width", "4", "--style-layers", "relu1_1,relu2_1",
               "--content-weight", "0", "--preview-every", "1", "--checkpoint-every", "0", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ctrl_c_as_in_a_terminal)
    preview = files / "stopped_preview.png"
    deadline = time.monotonic() + 120
    while not preview.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    assert "interrupted; saved the model so far" in out
    info = run("model", model)
    assert info.exit_code == 0 and "of 100000 steps" in info.output


def test_segment_never_replaces_a_map_that_appears_while_mapping(photos, monkeypatch):
    """Without --force a map that appears while the maps are made (another run, a copy) is kept, and
    no map is written: all or nothing, as the sidecars doodle paint finds."""
    import segmentation

    real_segment = segmentation.segment

    def segment_while_b_map_appears(*args, **kwargs):
        (photos / "b_sem.png").write_bytes(b"drawn by hand meanwhile")
        return real_segment(*args, **kwargs)

    monkeypatch.setattr(segmentation, "segment", segment_while_b_map_appears)
    result = run("segment", photos / "a.png", photos / "b.png", "--method", "cluster")
    assert_one_line_error(result, "b_sem.png: appeared while mapping", "--force")
    assert (photos / "b_sem.png").read_bytes() == b"drawn by hand meanwhile"
    assert sorted(path.name for path in photos.iterdir()) == ["a.png", "b.png", "b_sem.png"]
