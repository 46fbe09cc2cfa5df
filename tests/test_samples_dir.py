"""doodle/samples.py: the one place that says where the paper's sample images are."""

from doodle.samples import samples_dir


def test_samples_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DOODLE_SAMPLES", str(tmp_path))
    assert samples_dir() == tmp_path
    monkeypatch.delenv("DOODLE_SAMPLES")
    assert samples_dir().parts[-2:] == ("shared", "samples")
