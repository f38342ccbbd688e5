"""What a person sees: `streamlit run` on a free port, driven by headless Debian Chromium (Playwright).

Types a query, picks a sidebar filter, checks every result image really loaded and every name matches
the filter, follows "More like this", and saves reports/ui_screenshot.png (1280x900).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ui_fixtures import build_demo

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "reports" / "ui_screenshot.png"
STARTUP_TIMEOUT_S = 60
STEP_TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium not installed at {CHROMIUM} "
                                                      "(apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer within {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    demo = build_demo(tmp_path_factory)
    work = tmp_path_factory.mktemp("browser")
    store = demo.store_copy(work)
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("QDRANT_URL", None)
    log_path = work / "streamlit.log"
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "search_ui" / "app.py"),
             "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             "--client.toolbarMode", "viewer",
             "--", "--store", str(store), "--catalog", str(demo.catalog)],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, log_path)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_idle(page) -> None:
    """Until the script rerun triggered by the last action has finished."""
    page.wait_for_timeout(300)  # let the rerun start before asking whether it is over
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState !== 'running'",
        timeout=STEP_TIMEOUT_MS)


def scroll_to_top(page) -> None:
    page.eval_on_selector_all("[data-testid=stMain], [data-testid=stAppViewContainer]",
                              "els => els.forEach(e => e.scrollTo(0, 0))")
    page.wait_for_timeout(200)


def cards(page) -> list[dict]:
    return page.eval_on_selector_all(".fs-card", """els => els.map(card => ({
        id: Number(card.dataset.productId),
        name: card.querySelector('.fs-name').textContent,
        gender: card.querySelector('.fs-chip-gender')?.textContent,
        image: card.querySelector('img') ? {complete: card.querySelector('img').complete,
                                            width: card.querySelector('img').naturalWidth} : null}))""")


def test_search_filter_and_more_like_this_in_a_real_browser(page_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(page_url)
            page.get_by_text("Type what you are looking for").wait_for()

            # 1. A query, submitted with Enter.
            box = page.get_by_label("What are you looking for?")
            box.fill("red summer dress")
            box.press("Enter")
            page.locator(".fs-card").first.wait_for()
            wait_idle(page)
            assert len(cards(page)) == 24
            # Ranked as the page does by default: the named values first, said and ticked on the cards.
            page.get_by_text("First: products matching Colour: Red").wait_for()
            ticked = page.eval_on_selector(".fs-card", "card => [...card.querySelectorAll('.fs-chip-match')]"
                                                       ".map(chip => getComputedStyle(chip, '::before').content)")
            assert ticked and all("\u2713" in content for content in ticked), ticked

            # 2. A sidebar filter: Gender = Women.
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_test_id("stMultiSelect").filter(has_text="Gender").click()
            page.get_by_role("option", name="Women").first.click()
            page.keyboard.press("Escape")
            page.wait_for_function("() => [...document.querySelectorAll('.fs-chip-gender')]"
                                   ".every(chip => chip.textContent === 'Women')")
            wait_idle(page)
            shown = cards(page)
            assert shown and all(c["gender"] == "Women" and "Women" in c["name"] for c in shown)
            # Every image decoded in the browser (naturalWidth is 0 for a broken image).
            page.wait_for_function("() => [...document.querySelectorAll('.fs-card img')].every(i => i.complete)")
            shown = cards(page)
            assert all(c["image"] and c["image"]["width"] > 0 for c in shown), shown
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            scroll_to_top(page)
            page.screenshot(path=str(SCREENSHOT))

            # 3. More like this, on the first result: its neighbours, under the same filter.
            source = shown[0]
            page.locator(f'.st-key-more_{source["id"]} button').click()  # Streamlit tags keyed widgets
            page.get_by_text("More like this:").wait_for()
            wait_idle(page)
            similar = cards(page)
            assert similar and source["id"] not in [c["id"] for c in similar]
            assert all(c["gender"] == "Women" for c in similar)
            scroll_to_top(page)
            page.screenshot(path=str(SCREENSHOT.with_name("ui_screenshot_similar.png")))
        finally:
            browser.close()


def test_a_crafted_upload_is_a_message_in_a_real_browser(page_url, tmp_path):
    """A decompression bomb (a 400-byte PNG declaring 10 gigapixels), then a truncated JPEG: each a warning
    naming the file, no exception box, no server path; the page still searches afterwards."""
    from hostile_inputs import png_bomb, refused

    sync_api = pytest.importorskip("playwright.sync_api")
    bomb, truncated = tmp_path / "bomb.png", tmp_path / "broken.jpg"
    bomb.write_bytes(png_bomb())
    truncated.write_bytes(refused()["truncated_jpeg"][0])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox",
                                                                                 "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(page_url)
            page.get_by_text("Type what you are looking for").wait_for(timeout=4 * STEP_TIMEOUT_MS)  # may load the model
            uploader = page.get_by_test_id("stSidebar").locator("input[type=file]")
            for path, message in ((bomb, "MP"), (truncated, "damaged")):
                uploader.set_input_files(str(path))
                page.get_by_text(f"{path.name} ").filter(has_text=message).first.wait_for()
                wait_idle(page)
                body = page.inner_text("body")
                assert page.get_by_test_id("stException").count() == 0
                assert "Traceback" not in body and str(REPO) not in body and "site-packages" not in body
            box = page.get_by_label("What are you looking for?")
            box.fill("blue jeans")
            box.press("Enter")
            page.locator(".fs-card").first.wait_for()
        finally:
            browser.close()
