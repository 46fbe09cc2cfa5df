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
    for name in ("out.xyz", "out.psd", "out.xbm", "out"):  # unknown, read-only and RGB-less formats
        with pytest.raises(DoodleError, match="cannot write"):
            check_writable(tmp_path / name, [], force=False)
    # a new folder is fine, but is only made when the painting is written
    assert check_writable(tmp_path / "new" / "out.png", [], force=False) == tmp_path / "new" / "out.png"
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DoodleError, match="is a file"):
        check_writable(tmp_path / "file" / "sub" / "out.png", [], force=False)


def test_written_files_get_normal_permissions(tmp_path):
    import os
    import stat

    write_image(tmp_path / "out.png", np.zeros((2, 2, 3), np.float32))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o666 & ~umask


def test_sixteen_bit_and_float_images_are_scaled(tmp_path):
    ramp = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 0..65535
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    image = read_image(tmp_path / "ramp16.png")
    assert abs(image[..., 0].mean() - 0.5) < 0.01 and image.max() == 1.0
    Image.fromarray(np.full((4, 4), 0.5, np.float32), "F").save(tmp_path / "half.tiff")
    assert abs(read_image(tmp_path / "half.tiff").mean() - 0.5) < 0.01


def test_transparent_image_pixels_become_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2, :, 3] = 255  # top half opaque black, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image[0, 0].tolist() == [0, 0, 0] and image[-1, 0].tolist() == [1, 1, 1]


def test_write_images_writes_all_or_nothing(tmp_path):
    from doodle.images import write_images

    good = np.zeros((4, 4, 3), np.uint8)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(DoodleError):
        # The second map cannot be written: the first, already staged, must not land either.
        write_images([(tmp_path / "a_sem.png", good), (tmp_path / "blocker" / "b_sem.png", good)])
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]
    write_images([(tmp_path / "a_sem.png", good), (tmp_path / "sub" / "b_sem.png", good)])
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["a_sem.png", "b_sem.png"]
