import numpy as np
import pytest
from PIL import Image

from doodle.errors import DoodleError
from doodle.images import (check_map_matches, check_writable, parse_size, read_image, read_map,
                           sidecar_map_path, write_image)


def test_sidecar_map_path():
    assert str(sidecar_map_path("art/Monet.jpg")) == "art/Monet_sem.png"


def test_read_image_errors_are_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    for path, words in ((tmp_path / "missing.jpg", "no such"), (tmp_path / "notes.txt", "not an image"),
                        (tmp_path, "folder")):
        with pytest.raises(DoodleError) as error:
            read_image(path)
        assert words in str(error.value) and "\n" not in str(error.value)


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DoodleError):
        read_map(path)


def test_aspect_ratio_tolerance():
    check_map_matches((384, 512, 3), (192, 256, 3), "image", "map")  # half size: fine
    check_map_matches((384, 512, 3), (390, 512, 3), "image", "map")  # within 2 %
    with pytest.raises(DoodleError, match="aspect"):
        check_map_matches((384, 512, 3), (512, 512, 3), "image", "map")


def test_parse_size():
    assert parse_size("512x384") == (512, 384)
    for text in ("512", "axb", "0x10"):
        with pytest.raises(DoodleError):
            parse_size(text)


def test_write_image_is_atomic_and_round_trips(tmp_path):
    image = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    path = tmp_path / "out.png"
    write_image(path, image)
    assert np.abs(read_image(path) - image).max() <= 1 / 255
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left behind


def test_check_writable(tmp_path):
    source = tmp_path / "style.png"
    source.write_bytes(b"x")
    with pytest.raises(DoodleError, match="overwrite an input"):
        check_writable(source, [source], force=True)
    with pytest.raises(DoodleError, match="--force"):
        check_writable(source, [], force=False)
    with pytest.raises(DoodleError, match="format"):
        check_writable(tmp_path / "out.xyz", [], force=False)
    assert check_writable(tmp_path / "new" / "out.png", [], force=False).parent.is_dir()


def test_transparent_image_pixels_become_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2, :, 3] = 255  # top half opaque black, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image[0, 0].tolist() == [0, 0, 0] and image[-1, 0].tolist() == [1, 1, 1]
