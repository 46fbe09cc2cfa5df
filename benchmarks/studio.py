"""How fast the studio's preview follows a stroke, measured in a real browser.

    python benchmarks/studio.py latency --model out/ff/monet.doodle    # live previews by a trained model
    python benchmarks/studio.py latency --model out/ff/monet.doodle --strokes 30
    python benchmarks/studio.py latency                                # no model: the quick optimisation
    python benchmarks/studio.py screenshot --model out/ff/monet.doodle --output examples/gallery/studio.jpg

It starts `doodle studio` in a fresh process with the Monet in its gallery (and, with --model, a
models folder holding that model, which must have been trained on Monet.jpg with its map: e.g.
`doodle train --style ../shared/samples/Monet.jpg -o out/ff/monet.doodle`), opens it in headless
Chromium (Debian's `chromium`, driven by Playwright), picks the Monet and draws --strokes strokes
with the mouse, one label after another. For each stroke the page itself records the time from the
pointer's release to the new preview image having loaded (the stroke's PNG to the server, its
snapping, the painting, the image back and decoded): the figure a user feels. Results are a Markdown
table headed by the machine, the command and the date; the latest are kept in benchmarks/README.md.
`screenshot` makes the README's picture: the Monet, the paper's coastline doodle uploaded, its live
preview and a painting at 384 pixels.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import header, samples  # noqa: E402

# Installed in the page: stamps each pointer release, and each preview image once it has loaded.
TIMING = """() => {
  window.latencies = [];
  const canvas = document.querySelector('.studio-canvas canvas');
  canvas.addEventListener('pointerup', () => { window.released = performance.now(); });
  let shown = null;
  new MutationObserver(() => {
    const image = document.querySelector('#preview img');
    if (!image || image.src === shown) return;
    shown = image.src;
    const record = () => window.latencies.push(performance.now() - window.released);
    if (image.complete) record(); else image.addEventListener('load', record, { once: true });
  }).observe(document.querySelector('#preview'), { subtree: true, childList: true, attributes: true });
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_studio(folder: Path, model: Path | None) -> tuple[subprocess.Popen, str]:
    styles, models = folder / "styles", folder / "models"
    styles.mkdir()
    models.mkdir()
    for name in ("Monet.jpg", "Monet_sem.png"):
        (styles / name).symlink_to(samples() / name)
    if model is not None:
        (models / model.name).symlink_to(model.resolve())
    log = folder / "studio.log"
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "doodle", "studio", "--styles", str(styles), "--models",
                                   str(models), "--port", str(free_port())], stdout=output, stderr=output)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        found = re.search(r"http://\S+", log.read_text())
        if found:
            return server, found.group(0)
        time.sleep(0.5)
    server.kill()
    sys.exit(f"the studio did not start: {log.read_text()}")


def browser_page(playwright, address: str):
    """A headless Chromium page on the studio, with the Monet chosen."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(address)
    page.locator("#styles img").first.click()
    page.wait_for_selector(".studio-canvas .legend button[data-label]", timeout=30000)
    return browser, page


def measure(address: str, strokes: int, pause: float) -> tuple[list[float], str]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = browser_page(playwright, address)
        caption = page.locator("#style-caption").inner_text()
        page.evaluate(TIMING)
        box = page.locator(".studio-canvas canvas").bounding_box()
        labels = page.locator(".studio-canvas .legend button[data-label]:not([data-eraser])").count()
        for stroke in range(strokes):
            page.locator(f'.studio-canvas .legend button[data-label="{1 + stroke % (labels - 1)}"]'
                         ":not([data-eraser])").click()
            y = box["y"] + box["height"] * (0.1 + 0.8 * ((stroke * 0.37) % 1))
            page.mouse.move(box["x"] + 20, y)
            page.mouse.down()
            for step in range(1, 11):
                page.mouse.move(box["x"] + 20 + (box["width"] - 40) * step / 10, y + 15 * (step % 2))
            page.mouse.up()
            page.wait_for_function(f"window.latencies.length > {stroke}", timeout=120000)
            page.wait_for_timeout(pause * 1000)
        latencies = page.evaluate("window.latencies")
        browser.close()
    return [value / 1000 for value in latencies[:strokes]], caption


def screenshot(address: str, output: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = browser_page(playwright, address)
        with page.expect_file_chooser() as chooser:
            page.locator("#upload-doodle").click()
        chooser.value.set_files(str(samples() / "Coastline_sem.png"))
        page.wait_for_selector("#preview img", timeout=60000)
        page.locator("#paint-size input").click()
        page.get_by_role("option", name="384", exact=True).click()
        page.locator("#paint").click()
        page.locator("#download-result").wait_for(state="visible", timeout=300000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(output.with_suffix(".png")), full_page=False)
        browser.close()
    shot = Image.open(output.with_suffix(".png")).convert("RGB")
    shot = shot.crop((60, 0, shot.width - 60, 900))  # the page's margins and empty bottom
    output.with_suffix(".png").unlink()
    shot.save(output, quality=85)
    print(f"wrote {output} ({shot.width}x{shot.height})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    latency = commands.add_parser("latency", help="time the preview after each stroke")
    latency.add_argument("--strokes", type=int, default=20)
    latency.add_argument("--pause", type=float, default=0.5, help="seconds between a preview and the next stroke")
    picture = commands.add_parser("screenshot", help="the README's picture of the studio")
    picture.add_argument("--output", type=Path, default=Path("examples/gallery/studio.jpg"))
    for command in (latency, picture):
        command.add_argument("--model", type=Path, help="a doodle model of Monet.jpg (default: none)")
    arguments = parser.parse_args()
    if arguments.model is not None and not arguments.model.is_file():
        sys.exit(f"--model {arguments.model}: no such file")
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as folder:
        server, address = start_studio(Path(folder), arguments.model)
        try:
            if arguments.command == "screenshot":
                return screenshot(address, arguments.output)
            latencies, caption = measure(address, arguments.strokes, arguments.pause)
        finally:
            server.terminate()
            server.wait(30)
    kind = "trained model" if arguments.model is not None else "quick optimisation"
    header(f"Studio preview latency ({kind})")
    print(f"Style: {caption}\n")
    print("| strokes | median s | 90th percentile s | fastest s | slowest s | first s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    ordered = sorted(latencies[1:]) or latencies  # the first stroke also warms the model and the page
    tenth = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    print(f"| {len(latencies)} | {statistics.median(ordered):.3f} | {tenth:.3f} | {ordered[0]:.3f} | "
          f"{ordered[-1]:.3f} | {latencies[0]:.3f} |")


if __name__ == "__main__":
    main()
