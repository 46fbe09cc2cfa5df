"""doodle video's outputs play in a real browser: an H.264 mp4 and a VP9 webm, each painted by a
model, opened in headless Chromium, which must decode them and play them to the end."""

from __future__ import annotations

import pytest

from .browser import chromium  # noqa: F401  (a fixture)
from .test_video import files, run  # noqa: F401  (a fixture and the CLI runner)

PLAYED = """() => new Promise(resolve => {
    const video = document.getElementById('clip');
    const state = () => ({ended: video.ended, time: video.currentTime, duration: video.duration,
                          width: video.videoWidth, height: video.videoHeight, error: video.error && video.error.code});
    video.addEventListener('ended', () => resolve(state()));
    video.addEventListener('error', () => resolve(state()));
    setTimeout(() => resolve(state()), 8000);
})"""


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_a_painted_clip_plays_to_the_end_in_chromium(files, chromium, suffix):  # noqa: F811
    output = files / f"painted{suffix}"
    result = run("video", files / "doodle.mp4", "--model", files / "m.doodle", "-o", output, "-q")
    assert result.exit_code == 0, result.output
    page_file = files / "play.html"
    page_file.write_text(f'<video id="clip" src="{output.name}" muted autoplay></video>')
    page = chromium.new_page()
    page.goto(page_file.as_uri())
    state = page.evaluate(PLAYED)
    assert state["error"] is None and state["ended"], state
    assert (state["width"], state["height"]) == (48, 48) and state["duration"] == pytest.approx(0.5, abs=0.05)
