from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doodle.errors import DoodleError
from doodle.images import (
    check_map_matches,
    check_writable,
    parse_size,
    read_image,
    read_map,
    sidecar_map_path,
    write_image,
)

from .helpers import png_declaring


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


def test_writes_without_replace_never_replace_a_file_that_appeared(tmp_path):
    """Without --force a file that appears while a run works is left byte for byte; the painting
    goes beside it under a free numbered name, with its map numbered the same way."""
    from doodle.images import write_images

    photo = tmp_path / "r.png"
    photo.write_bytes(b"a photo copied here while painting")
    painting = np.full((4, 6, 3), 0.5, np.float32)
    with pytest.raises(FileExistsError):
        write_image(photo, painting, replace=False)
    written = write_images([(photo, painting), (sidecar_map_path(photo), np.zeros((4, 6, 3), np.uint8))],
                           replace=False, beside=True)
    assert written == [tmp_path / "r-1.png", tmp_path / "r-1_sem.png"]
    assert photo.read_bytes() == b"a photo copied here while painting"
    assert np.abs(read_image(written[0]) - painting).max() <= 1 / 255
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r-1.png", "r-1_sem.png", "r.png"]  # nothing hidden left
    write_image(photo, painting)  # replace (--force, a run's own frame): atomic os.replace
    assert np.abs(read_image(photo) - painting).max() <= 1 / 255


# --- every input read is guarded ------------------------------------------------------------------

def saved(tmp_path, name: str, array: np.ndarray, **options):
    path = tmp_path / name
    Image.fromarray(array).save(path, **options)
    return path


def one_line_naming(error, path) -> str:
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_declared_size_reads_the_header_only_and_refuses_past_the_limit(tmp_path, monkeypatch):
    from doodle.images import declared_size

    monkeypatch.delenv("DOODLE_MAX_MEGAPIXELS", raising=False)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(100_000, 100_000))  # 10 gigapixels, a few hundred bytes
    for reader in (declared_size, read_image, read_map):
        with pytest.raises(DoodleError) as error:
            reader(bomb)
        message = one_line_naming(error, bomb)
        assert "100000x100000" in message and "--max-megapixels" in message and "DOODLE_MAX_MEGAPIXELS" in message
    small = saved(tmp_path, "small.png", np.zeros((30, 40, 3), np.uint8))
    assert declared_size(small, "image") == (40, 30)
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", "0.001")  # 1000 pixels: the 1200 of `small` are too many
    with pytest.raises(DoodleError, match="40x30.*the limit is 0.001 megapixels"):
        read_image(small)
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", "0.0012")
    assert read_image(small).shape == (30, 40, 3)


def test_declared_size_is_the_shown_size_of_rotated_photos(tmp_path):
    from doodle.images import declared_size

    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: turned a quarter
    path = saved(tmp_path, "phone.jpg", np.zeros((30, 40, 3), np.uint8), exif=exif.tobytes())
    assert declared_size(path) == (30, 40) and read_image(path).shape == (40, 30, 3)


def test_pixel_limit_follows_free_memory_and_the_variable(monkeypatch):
    from doodle import decoding

    monkeypatch.delenv("DOODLE_MAX_MEGAPIXELS", raising=False)
    # a quarter of the free memory at 32 bytes a pixel
    monkeypatch.setattr(decoding, "available_ram", lambda: 128 * 10**6)
    assert decoding.pixel_limit() == 10**6
    monkeypatch.setattr(decoding, "available_ram", lambda: None)
    assert decoding.pixel_limit() == decoding.FALLBACK_PIXEL_LIMIT
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", " 2.5 ")
    assert decoding.pixel_limit() == 2_500_000
    for bad in ("abc", "0", "-3", "nan", "inf"):
        monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", bad)
        with pytest.raises(DoodleError, match=f"DOODLE_MAX_MEGAPIXELS='{bad}'.*number above 0"):
            decoding.pixel_limit()
        with pytest.raises(DoodleError, match="--max-megapixels"):
            decoding.set_max_megapixels(bad)


def test_set_max_megapixels_sets_the_variable_for_the_process(monkeypatch):
    from doodle.decoding import pixel_limit, set_max_megapixels

    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", "1")  # restored after the test
    set_max_megapixels("300")
    assert pixel_limit() == 300_000_000


def test_available_ram_reads_meminfo_without_torch(tmp_path):
    import subprocess
    import sys

    from doodle.meminfo import available_ram

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n")
    assert available_ram(str(meminfo)) == 8000000 * 1024
    meminfo.write_text("nothing useful\n")
    assert available_ram(str(meminfo)) is None
    assert available_ram(str(tmp_path / "missing")) is None
    # the readers must stay cheap to import: the CLI checks inputs before it pays for torch
    code = "import sys, doodle.images, doodle.decoding; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_files_are_refused_never_half_decoded(tmp_path, monkeypatch, suffix):
    from PIL import ImageFile

    rng = np.random.default_rng(0)
    path = saved(tmp_path, f"photo{suffix}", (rng.random((40, 56, 3)) * 255).astype(np.uint8))
    whole, data = read_image(path), path.read_bytes()
    # Even where a script turned Pillow's LOAD_TRUNCATED_IMAGES on, doodle's readers refuse.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for cut in range(0, len(data), max(1, len(data) // 60)):
        path.write_bytes(data[:cut])
        try:
            got = read_map(path) if cut % 2 else read_image(path)
        except DoodleError as error:
            assert "\n" not in str(error) and str(path) in str(error)
            continue
        # only a cut in what follows the pixels (PNG's IEND) may still read, and then all of it
        assert np.array_equal(got if got.dtype == np.float32 else got / np.float32(255), whole), cut
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored as it was


def test_random_bytes_behind_real_headers_give_one_line_errors(tmp_path):
    import random

    rng = random.Random(0)
    for suffix in (".png", ".jpg", ".gif", ".tif", ".webp", ".bmp"):
        path = saved(tmp_path, f"a{suffix}", np.full((16, 16, 3), 90, np.uint8))
        data = path.read_bytes()
        for _ in range(25):
            head = data[:rng.choice([8, 16, 33, 60])]
            path.write_bytes(head + bytes(rng.randrange(256) for _ in range(rng.choice([4, 100, 1500]))))
            try:
                read_map(path)
            except DoodleError as error:
                assert "\n" not in str(error) and str(path) in str(error)


def test_undecodable_files_name_the_file_whatever_pillow_raises(tmp_path, monkeypatch):
    import struct

    path = saved(tmp_path, "odd.png", np.zeros((8, 8, 3), np.uint8))
    for failure in (SyntaxError("broken"), ValueError("bad"), struct.error("unpack"), EOFError(),
                    ZeroDivisionError("division by zero"), IndexError("index"), OSError("decoder error -2")):
        def load(self, failure=failure):
            raise failure
        monkeypatch.setattr("PIL.ImageFile.ImageFile.load", load)
        with pytest.raises(DoodleError) as error:
            read_image(path)
        one_line_naming(error, path)


def test_pixels_beyond_the_header_are_refused_and_pillow_is_left_as_it_was(tmp_path):
    """Formats whose frames are larger than their header (ICO, GIF) meet Pillow's own guard, set to
    doodle's limit while pixels are decoded; no warning escapes and Pillow's settings come back."""
    import warnings

    from doodle.decoding import decoding

    path = saved(tmp_path, "a.png", np.zeros((64, 64, 3), np.uint8))
    before = Image.MAX_IMAGE_PIXELS
    for limit in (100, 3000):  # Pillow errs past twice the limit, and warns past it
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(DoodleError, match="larger than its header says") as error:
                with decoding(path, "image", limit, header_only=False), Image.open(path) as image:
                    image.load()
        one_line_naming(error, path)
    assert Image.MAX_IMAGE_PIXELS == before


def test_inputs_that_are_not_regular_files_are_refused_without_opening_them(tmp_path):
    import os

    from doodle.images import declared_size, require_file

    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it would wait forever for a writer
    for path, words in ((pipe, "named pipe"), (tmp_path, "folder"), (Path("/dev/null"), "device")):
        for reader in (read_image, read_map, declared_size, lambda p: require_file(p, "map")):
            with pytest.raises(DoodleError, match=words) as error:
                reader(path)
            one_line_naming(error, path)


def test_unreachable_paths_give_one_line_errors(tmp_path):
    import os

    from doodle.images import require_file

    long_name = tmp_path / ("x" * 300 + ".png")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for path, words in ((long_name, "too long"), (tmp_path / "loop", "symbolic links"),
                        (tmp_path / "missing.png", "no such"), (tmp_path / "file.png" / "a.png", "no such")):
        (tmp_path / "file.png").write_bytes(b"x")
        with pytest.raises(DoodleError, match=words) as error:
            require_file(path, "image")
        one_line_naming(error, path)
    if os.geteuid() != 0:  # root enters any folder
        locked = tmp_path / "locked"
        locked.mkdir()
        saved(locked, "a.png", np.zeros((4, 4, 3), np.uint8))
        locked.chmod(0)
        try:
            with pytest.raises(DoodleError, match="Permission denied"):
                read_image(locked / "a.png")
        finally:
            locked.chmod(0o755)


def test_outputs_with_unusable_paths_give_one_line_errors(tmp_path):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    for path, words in ((tmp_path / ("x" * 300 + ".png"), "too long"), (tmp_path / "loop.png", "symlink loop"),
                        (tmp_path / ("d" * 300) / "out.png", "too long")):
        with pytest.raises(DoodleError, match=words) as error:
            check_writable(path, [], force=False)
        assert "\n" not in str(error.value)


def test_permission_errors_on_the_way_are_one_line_even_as_root(tmp_path, monkeypatch):
    """What stat says for a file inside a folder the user cannot enter (root enters every folder, so
    the error is made here rather than with chmod)."""
    import errno

    from doodle.images import require_file

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    inside = tmp_path / "locked" / "a.png"
    monkeypatch.setattr(Path, "stat", denied)
    with pytest.raises(DoodleError, match=r"cannot reach the image file \(Permission denied\)") as error:
        require_file(inside, "image")
    one_line_naming(error, inside)
    monkeypatch.setattr(Path, "is_dir", denied)
    with pytest.raises(DoodleError, match=r"cannot write there \(Permission denied\); choose another --output"):
        check_writable(inside, [], force=False)


def test_image_arrays_with_nan_are_refused():
    from doodle.images import load_image

    image = np.full((4, 4, 3), 0.5, np.float32)
    image[0, 0, 0] = np.nan
    with pytest.raises(DoodleError, match="finite floats"):
        load_image(image, "style")
