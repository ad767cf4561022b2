"""End to end in a real browser: Playwright drives Debian's Chromium (headless) through the studio — a LeNet-5
job on digits from the form, the live chart growing while it trains, the finished run, an uploaded digit
classified correctly, a drawn digit classified, and the language switched and remembered.

Set SHENDU_STUDIO_SHOTS=/some/dir to keep a screenshot of every page visited (they are never committed).
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.studio.conftest import Studio

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright "
                                                              "(never `playwright install`; Debian's chromium is used)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"),
                       reason="needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium "
                              "fonts-wqy-microhei (tools/with-services.sh does it as root)"),
]


def digit_png(path: Path, label: int) -> Path:
    """The first test-split digit of class `label`, scaled 8× (nearest) to 64×64 like a user's scan."""
    from shendu.data import load_dataset

    test = load_dataset("digits", "test")
    index = int((test.y == label).nonzero()[0, 0])
    image = Image.fromarray(test.x[index, 0].numpy()).resize((64, 64), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


class Shots:
    def __init__(self) -> None:
        folder = os.environ.get("SHENDU_STUDIO_SHOTS")
        self.folder = Path(folder) if folder else None
        self.count = 0

    def take(self, page, name: str) -> None:  # noqa: ANN001
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.count += 1
            page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def test_train_watch_inspect_classify_and_switch_language(shendu_home: Path, tmp_path: Path) -> None:
    studio = Studio(shendu_home, "--workers", "1")
    shots = Shots()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            _create_job(page, studio.base, shots)
            run_id = _watch_job(page, shots)
            _inspect_run(page, run_id, shots)
            _classify(page, digit_png(tmp_path / "zero.png", 0), shots)
            _switch_language(page, shots)
            browser.close()
    finally:
        studio.stop()


def _create_job(page, base: str, shots: Shots) -> None:  # noqa: ANN001
    page.goto(base + "/jobs/new")
    page.fill("#f-name", "browser-lenet")
    page.select_option("[name='data.name']", "digits")
    page.select_option("[name='model.name']", "lenet5")
    page.fill("[name='optim.lr']", "-1")  # inline validation while typing
    page.wait_for_function("document.getElementById('err-optim.lr').textContent.includes('greater than 0')")
    shots.take(page, "new-job-error")
    page.fill("[name='optim.lr']", "0.01")
    page.fill("[name='train.epochs']", "6")
    page.fill("#f-extra", "track.tensorboard=false")
    page.wait_for_function("document.getElementById('err-optim.lr').textContent === ''")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")


def _watch_job(page, shots: Shots) -> str:  # noqa: ANN001
    points = "() => +(document.getElementById('chart-loss').dataset.points || 0)"
    page.wait_for_function(f"({points})() >= 2", timeout=240_000)  # train_loss and val_loss of epoch 1
    first = page.evaluate(points)
    shots.take(page, "job-live")
    page.wait_for_function(f"({points})() > {first}", timeout=240_000)  # the chart grows as epochs arrive
    assert page.locator("#chart-loss path.series").count() == 2
    page.wait_for_function("document.getElementById('job-status').dataset.status === 'completed'", timeout=300_000)
    assert page.evaluate(points) == 12  # 6 epochs × (train_loss, val_loss)
    shots.take(page, "job-completed")
    link = page.locator("#job-run a")
    run_id = link.inner_text()
    link.click()
    page.wait_for_url(f"**/runs/{run_id}")
    return run_id


def _inspect_run(page, run_id: str, shots: Shots) -> None:  # noqa: ANN001
    assert "test_accuracy" in page.locator("#summary").inner_text()
    page.wait_for_selector("#confusion table.cm")
    assert "n=180" in page.locator("#confusion").inner_text()
    for kind in ("filters", "features", "gradcam", "misclassified"):
        page.locator(f"#pic-{kind}").scroll_into_view_if_needed()
        page.wait_for_function(f"document.getElementById('pic-{kind}').naturalWidth > 100", timeout=120_000)
    shots.take(page, "run")
    page.click("#try-it")
    page.wait_for_url(f"**/playground?run={run_id}")


def _classify(page, image: Path, shots: Shots) -> None:  # noqa: ANN001
    page.set_input_files("#upload", str(image))
    page.click("#upload-go")
    page.wait_for_selector("#predicted-label")
    assert page.inner_text("#predicted-label") == "0"
    shots.take(page, "playground-upload")
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 50, box["y"] + 30)  # a 7: the bar, then the diagonal down to the left
    page.mouse.down()
    page.mouse.move(box["x"] + 150, box["y"] + 30, steps=10)
    page.mouse.move(box["x"] + 80, box["y"] + 175, steps=14)
    page.mouse.up()
    page.evaluate("document.getElementById('result').innerHTML = ''")
    page.click("#canvas-go")
    page.wait_for_selector("#predicted-label")
    assert page.inner_text("#predicted-label") == "7"
    shots.take(page, "playground-canvas")


def _switch_language(page, shots: Shots) -> None:  # noqa: ANN001
    assert page.inner_text("header nav") .startswith("Datasets")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang='zh-CN']")
    assert "推理试验" in page.inner_text("header nav") and "/playground" in page.url
    page.goto(page.url.split("/playground")[0] + "/jobs")  # remembered across pages (cookie)
    assert "任务队列" in page.inner_text("main")
    shots.take(page, "jobs-zh")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang='en']")
    assert "The job queue" in page.inner_text("main")
