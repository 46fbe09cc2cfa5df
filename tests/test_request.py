"""The request layer on its own: map resolution is pure (a stand-in answers 'does this file exist?'),
and requests are built and checked without the CLI runner."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doodle.errors import DoodleError
from doodle.request import config_for, paint_request, resolve_map_paths, segment_request, style_map_for, texture_request

from .helpers import textured_style, two_region_map

STYLE, OTHER, PHOTO, OUT = Path("in/style.jpg"), Path("in/other.jpg"), Path("in/photo.jpg"), Path("out/painting.png")


def existing(*paths: Path):
    """A stand-in for Path.exists that knows only `paths`."""
    known = set(paths)
    return lambda path: path in known


def test_sidecars_are_found_for_the_style_and_the_output():
    maps = resolve_map_paths([STYLE], OUT, exists=existing(Path("in/style_sem.png"), Path("out/painting_sem.png")))
    assert maps.styles == (Path("in/style_sem.png"),) and maps.target == Path("out/painting_sem.png")
    assert maps.notes == ()


def test_a_given_doodle_wins_over_the_sidecar():
    maps = resolve_map_paths([STYLE], OUT, doodle=Path("doodle.png"),
                             exists=existing(Path("in/style_sem.png"), Path("out/painting_sem.png")))
    assert maps.target == Path("doodle.png")


def test_content_takes_its_own_sidecar_not_the_outputs():
    maps = resolve_map_paths([STYLE], OUT, content=PHOTO,
                             exists=existing(Path("in/style_sem.png"), Path("in/photo_sem.png"),
                                             Path("out/painting_sem.png")))
    assert maps.target == Path("in/photo_sem.png")


def test_no_maps_ignores_every_sidecar():
    maps = resolve_map_paths([STYLE, OTHER], OUT, no_maps=True, exists=lambda path: True)
    assert maps.styles == (None, None) and maps.target is None


def test_no_maps_anywhere_is_plain_style_transfer():
    maps = resolve_map_paths([STYLE], OUT, content=PHOTO, exists=existing())
    assert maps.styles == (None,) and maps.target is None


@pytest.mark.parametrize("arguments, exists, words", [
    (dict(no_maps=True, auto_maps=True), (), ["--no-maps and --auto-maps contradict"]),
    (dict(style_maps=[Path("a_sem.png"), Path("b_sem.png")]), (), ["2 --style-map for 1 --style"]),
    (dict(content=PHOTO, doodle=Path("d.png")), (), ["--map is the doodle", "--content-map"]),
    (dict(), ("in/style_sem.png",), ["the style has a map but there is no doodle", "--no-maps --size"]),
    (dict(doodle=Path("d.png")), (), ["d.png: a map was found for one side only", "--style-map"]),
    (dict(content=PHOTO), ("in/style_sem.png",), ["one side only", "--content-map"]),
    (dict(auto_maps=True), (), ["--auto-maps needs --content", "doodle segment in/style.jpg"]),
    (dict(content=PHOTO, auto_maps=True), ("in/photo_sem.png",), ["photo_sem.png is a map but in/style.jpg has none"]),
])
def test_impossible_combinations_are_refused_in_words(arguments, exists, words):
    with pytest.raises(DoodleError) as error:
        resolve_map_paths([STYLE], OUT, exists=existing(*map(Path, exists)), **arguments)
    for word in words:
        assert word in str(error.value)


def test_every_style_needs_a_map_when_one_has_one():
    with pytest.raises(DoodleError, match="in/other.jpg: has no map but in/style_sem.png does"):
        resolve_map_paths([STYLE, OTHER], OUT, doodle=Path("d.png"), exists=existing(Path("in/style_sem.png")))


def test_a_style_map_and_a_size_make_a_texture_without_a_doodle():
    maps = resolve_map_paths([STYLE], OUT, size_given=True, no_maps=True, exists=existing(Path("in/style_sem.png")))
    assert maps.target is None


def test_auto_maps_keep_maps_that_exist_and_say_so():
    maps = resolve_map_paths([STYLE], OUT, content=PHOTO, auto_maps=True,
                             exists=existing(Path("in/style_sem.png"), Path("in/photo_sem.png")))
    assert maps.style == Path("in/style_sem.png") and "used as they are" in maps.notes[0]
    made = resolve_map_paths([STYLE], OUT, content=PHOTO, auto_maps=True, exists=existing())
    assert made.styles == (None,) and made.target is None and made.notes == ()


def test_config_for_puts_typed_settings_over_the_preset_and_names_the_preset_in_clashes():
    assert config_for("flat", {"style_weight": 0.2}).style_weight == 0.2
    assert config_for("flat", {}).iterations == 170
    with pytest.raises(DoodleError, match="--preset flat"):
        config_for("flat", {"init": "noise", "init_noise": 0.5})


@pytest.fixture
def files(tmp_path):
    Image.fromarray((textured_style(48, 48) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(two_region_map(48, 48)).save(tmp_path / "style_sem.png")
    Image.fromarray(two_region_map(24, 24)).save(tmp_path / "doodle.png")
    return tmp_path


def test_a_paint_request_holds_what_the_engine_is_given(files):
    request = paint_request([files / "style.png"], files / "out.png", doodle=files / "doodle.png", size="48x48",
                            preset="painterly", settings={"iterations": 3})
    assert request.mode == "doodle" and request.size == (48, 48)
    # the preset starts from the content, of which a doodle has none: it starts from noise, and says so
    assert request.config.init == "noise" and request.config.iterations == 3 and "starts from noise" in request.notes[0]
    arguments = request.engine_arguments()
    assert arguments["style_map"] == [files / "style_sem.png"] and arguments["target_map"] == files / "doodle.png"
    assert arguments["content"] is None and arguments["content_map"] is None


def test_made_maps_go_to_the_styles_and_the_content(files):
    Image.fromarray((textured_style(48, 48, seed=3) * 255).astype(np.uint8)).save(files / "photo.png")
    (files / "style_sem.png").unlink()
    request = paint_request([files / "style.png"], files / "out.png", content=files / "photo.png", auto_maps=True)
    assert request.make_maps and request.mode == "semantic"
    made = [two_region_map(48, 48), two_region_map(48, 48, split=0.3)]
    arguments = request.engine_arguments(made)
    assert arguments["style_map"] == [made[0]] and arguments["content_map"] is made[1]


def test_paint_request_checks_files_and_outputs(files):
    with pytest.raises(DoodleError, match="no such image"):
        paint_request([files / "nope.png"], files / "out.png")
    (files / "out.png").write_bytes(b"precious")
    with pytest.raises(DoodleError, match="already exists"):
        paint_request([files / "style.png"], files / "out.png", doodle=files / "doodle.png")
    with pytest.raises(DoodleError, match="--save-every"):
        paint_request([files / "style.png"], files / "new.png", doodle=files / "doodle.png", save_every=-1)
    (files / "new_frames").write_text("a file")
    with pytest.raises(DoodleError, match="frames cannot go there"):
        paint_request([files / "style.png"], files / "new.png", doodle=files / "doodle.png", save_every=2)


def test_a_texture_request_follows_the_first_references_layout(files):
    request = texture_request([files / "style.png"], files / "exemplar.png", size="24x24")
    assert request.what == "exemplar" and request.size is None  # the layout, resized, sets the size
    assert request.target_map.shape == (24, 24, 3) and request.config.init == "noise"
    assert [item.path for item in request.companions] == [files / "exemplar_sem.png"]
    with pytest.raises(DoodleError, match="--weights"):
        texture_request([files / "style.png"], files / "x.png", weights="1,x")


def test_a_segment_request_places_maps_and_preview(files):
    request = segment_request([files / "style.png", files / "doodle.png"], ("auto", "cluster"),
                              output_dir=str(files / "maps"))
    assert request.map_paths == (files / "maps" / "style_sem.png", files / "maps" / "doodle_sem.png")
    assert request.preview_path == files / "maps" / "style+doodle_preview.png"
    with pytest.raises(DoodleError, match="--force"):
        segment_request([files / "style.png"], ("auto",), preview=False)  # style_sem.png is there already
    with pytest.raises(DoodleError, match="--method 'magic'"):
        segment_request([files / "style.png"], ("auto", "cluster"), method="magic")


def test_the_style_map_is_the_sidecar_unless_given():
    assert style_map_for(STYLE) == Path("in/style_sem.png")
    assert style_map_for(STYLE, Path("m.png")) == Path("m.png")


def test_doors_may_pass_strings(files):
    request = paint_request([str(files / "style.png")], str(files / "out.png"), doodle=str(files / "doodle.png"),
                            style_maps=[str(files / "style_sem.png")])
    assert request.output == files / "out.png" and request.target_map == files / "doodle.png"
    texture = texture_request([str(files / "style.png")], str(files / "t.png"), layout=str(files / "style_sem.png"))
    assert texture.output == files / "t.png"
    assert style_map_for(str(files / "style.png")) == files / "style_sem.png"


def test_sizes_beyond_the_pixel_limit_are_refused_before_any_map_is_resized(monkeypatch):
    from doodle.request import output_size

    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", "1")
    assert output_size("1000x1000") == (1000, 1000) and output_size(None) is None
    with pytest.raises(DoodleError, match=r"^--size 30000x22500: 675 megapixels .*--max-megapixels"):
        output_size("30000x22500")
