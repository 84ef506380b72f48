"""The page in a real browser: headless Chromium from Debian's ``chromium`` package, driven by Playwright,
against a live server of a tiny Laser run. Search an item, add it to the history, see the top-k, toggle
filters and see the list change, add an item by text; the page fetches nothing from elsewhere."""

import os
import shutil
from pathlib import Path

import pytest

import laserrec
from laserrec.inference.serve import create_app
from serve_fixtures import live_server, train_tiny_runs

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root (CI does)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Where a copy of the screenshot goes for a person to look at, when that folder exists.
SCREENSHOT_COPY = Path(os.environ.get("LASERREC_PAGE_SCREENSHOT", "/work/logs/page.png"))

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: install Debian's chromium package"
)


@pytest.fixture(scope="module")
def page(tmp_path_factory, tiny_llama):
    playwright = pytest.importorskip("playwright.sync_api")
    root = train_tiny_runs(tmp_path_factory.mktemp("paged"), tiny_llama)
    with (
        live_server(create_app(laserrec.load(root / "laser"))) as url,
        playwright.sync_playwright() as p,
    ):
        browser = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 820},
            bypass_csp=True,  # Playwright's waits evaluate script text, which the page's policy forbids
        )
        tab = browser.new_page()
        outside = []
        tab.on(
            "request",
            lambda r: None if r.url.startswith(url) or r.url.startswith("data:") else outside.append(r),
        )
        tab.goto(url)
        tab.wait_for_function("document.querySelector('#run-info').textContent.includes('30 items')")
        yield tab, outside
        browser.close()


def titles(tab) -> list[str]:
    return tab.locator("#results tbody tr td:nth-child(2) .title").all_inner_texts()


def test_search_build_a_history_see_the_top_k_and_filter_it(page, tmp_path):
    tab, outside = page
    tab.fill("#search", "item 1")
    tab.wait_for_selector("#search-results button.item")
    assert tab.locator("#search-results .title").all_inner_texts()[:3] == ["item 1", "item 10", "item 11"]
    tab.locator("#search-results button.item").first.click()
    tab.fill("#search", "item 2")
    tab.wait_for_function("document.querySelector('#search-results').textContent.includes('item 20')")
    tab.locator("#search-results button.item").first.click()
    assert tab.locator("#history .title").all_inner_texts() == ["item 1", "item 2"]
    tab.wait_for_function("document.querySelector('#status').textContent === 'Top 10 after 2 history items'")
    plain = titles(tab)
    assert len(plain) == 10

    tab.select_option("#category", "cat 2")  # items 2, 6, 10, ...: the list changes to those only
    tab.wait_for_function(
        "[...document.querySelectorAll('#results tbody tr')].every(r => r.textContent.includes('cat 2'))"
    )
    filtered = titles(tab)
    assert filtered != plain and all(int(t.split()[1]) % 4 == 2 for t in filtered) and len(filtered) == 8
    tab.check("#exclude-history")
    tab.wait_for_function(
        "![...document.querySelectorAll('#results .title')].some(t => t.textContent === 'item 2')"
    )
    assert "item 2" in filtered and "item 2" not in titles(tab) and len(titles(tab)) == 7
    shot = tmp_path / "page.png"
    tab.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    if SCREENSHOT_COPY.parent.is_dir():
        shutil.copy(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 10_000

    tab.select_option("#brand", "brand 1")  # and brand 1 (number 1 mod 3): 10, 22
    tab.wait_for_function("document.querySelectorAll('#results tbody tr').length === 2")
    assert titles(tab) == sorted(titles(tab), key=filtered.index) and set(titles(tab)) == {
        "item 10",
        "item 22",
    }
    # fewer than k pass: the page says these are all of them
    assert tab.inner_text("#status") == "All 2 items that pass these filters, after 2 history items"

    assert not outside


def test_add_an_item_by_text_then_find_it(page):
    tab, outside = page
    tab.fill("#add-form [name=item]", "n1")
    tab.fill("#add-form [name=title]", "garden hose")
    tab.fill("#add-form [name=categories]", "B, hoses")
    tab.click("#add-form button")
    tab.wait_for_function("document.querySelector('#add-status').textContent.includes('added n1')")
    assert "31 items" in tab.inner_text("#run-info")
    tab.fill("#search", "garden")
    tab.wait_for_function("document.querySelector('#search-results').textContent.includes('garden hose')")
    tab.fill("#add-form [name=item]", "n1")  # the same id again: the service's message is shown
    tab.fill("#add-form [name=title]", "again")
    tab.click("#add-form button")
    tab.wait_for_function(
        "document.querySelector('#add-status').textContent.includes('already in the catalog')"
    )
    assert not outside
