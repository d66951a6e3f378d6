"""The HTML views in a real headless Chromium (Debian's, driven by playwright): they draw,
respond to hover, clicks and the slider, log no console error and request nothing but their
own file. Skips only where no Chromium executable exists."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import attnlab as al
from attnlab.viz import html
from attention_samples import softmax_rows

TOKENS = ["The", "<script>alert(1)</script>", "cat", "sat", "on", "the", "mat", "."]

# A weighted checksum of a canvas's pixels: changes whenever what it shows changes.
SIGNATURE = """canvas => {
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, inked = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] > 0 && (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250)) inked++;
    sum += (px[i] + 3 * px[i + 1] + 7 * px[i + 2] + 11 * px[i + 3]) * (1 + (i >> 2) % 97);
  }
  return [inked, sum];
}"""


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no Chromium executable (/usr/bin/chromium, chromium or chromium-browser on PATH)")


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Page:
    """A page opened on one saved file, recording console errors and every request."""

    def __init__(self, browser, path: Path):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.route("**/*", lambda route: route.continue_() if route.request.url == self.url else route.abort())
        self.page.goto(self.url, timeout=20_000)

    def signature(self, selector: str):
        return self.page.locator(selector).evaluate(SIGNATURE)

    def data(self, selector: str, name: str) -> str:
        return self.page.locator(selector).get_attribute(f"data-{name}")

    def close(self):
        self.page.close()
        assert self.errors == []
        assert self.requests == [self.url]


@pytest.fixture
def open_page(browser):
    pages = []

    def open_(path):
        pages.append(Page(browser, path))
        return pages[-1]

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def model_weights(rng):
    return softmax_rows(3 * rng.standard_normal((2, 3, len(TOKENS), len(TOKENS)))).astype(np.float32)


def test_head_view_draws_and_focuses_hovered_tokens(open_page, model_weights, tmp_path):
    page = open_page(al.viz.head_view(model_weights, TOKENS).save_html(tmp_path / "head.html"))
    lines = ".attnlab-view canvas"
    inked, everything = page.signature(lines)
    assert inked > 100
    labels = page.page.locator(".attnlab-queries .attnlab-token")
    assert labels.all_text_contents() == TOKENS  # the <script> token shows as text
    labels.nth(3).hover()
    assert page.data(".attnlab-view", "focus") == "q3"
    assert "sat" in page.page.locator(".attnlab-readout").text_content()
    assert page.page.locator(".attnlab-focus").all_text_contents() == ["sat"]
    focused = page.signature(lines)
    assert focused[1] != everything and 0 < focused[0] < inked
    page.page.locator(".attnlab-keys .attnlab-token").nth(1).hover()
    assert page.data(".attnlab-view", "focus") == "k1"
    assert page.signature(lines)[1] not in (everything, focused[1])
    page.page.mouse.move(1300, 850)
    assert page.data(".attnlab-view", "focus") == ""
    assert page.signature(lines)[1] == everything
    page.page.locator(".attnlab-head").nth(1).click()
    assert page.data(".attnlab-view", "heads") == "0,2"
    assert page.signature(lines)[1] != everything
    page.page.locator(".attnlab-layer").select_option("1")
    assert page.data(".attnlab-view", "layer") == "1"


def test_model_view_enlarges_the_clicked_head(open_page, model_weights, tmp_path):
    page = open_page(al.viz.model_view(model_weights, TOKENS).save_html(tmp_path / "model.html"))
    thumbs = page.page.locator(".attnlab-thumb")
    assert thumbs.count() == 6
    for i in range(6):
        assert page.signature(f".attnlab-thumb >> nth={i}")[0] > 0
    assert not page.page.locator(".attnlab-big").is_visible()
    thumbs.nth(5).click()
    assert page.data(".attnlab-view", "selected") == "1,2"
    assert page.page.locator(".attnlab-big").is_visible()
    first = page.signature(".attnlab-big")
    assert first[0] > 0
    assert page.page.locator(".attnlab-title").text_content().startswith("layer 1, head 2")
    page.page.locator(".attnlab-big").hover(position={"x": 5, "y": 5})
    assert page.page.locator(".attnlab-enlarged .attnlab-readout").text_content().startswith("The \u2192 The: ")
    thumbs.nth(0).click()
    assert page.data(".attnlab-view", "selected") == "0,0"
    assert page.signature(".attnlab-big") != first


def test_timeline_slider_moves_through_steps(open_page, rng, tmp_path):
    shape = (2, 2, len(TOKENS), len(TOKENS))
    snapshots = [(step, softmax_rows(step / 50 * rng.standard_normal(shape))) for step in (0, 50, 100)]
    page = open_page(al.viz.timeline(snapshots, TOKENS).save_html(tmp_path / "timeline.html"))
    assert page.data(".attnlab-view", "step") == "0"
    before = [page.signature(f".attnlab-thumb >> nth={h}") for h in range(2)]
    assert all(inked > 0 for inked, _ in before)
    slider = page.page.locator(".attnlab-slider")
    slider.focus()
    page.page.keyboard.press("ArrowRight")
    assert page.data(".attnlab-view", "step") == "50"
    after = [page.signature(f".attnlab-thumb >> nth={h}") for h in range(2)]
    assert after != before
    page.page.keyboard.press("End")
    assert page.data(".attnlab-view", "step") == "100"
    assert "3 of 3" in page.page.locator(".attnlab-readout").text_content()


def test_several_views_in_one_page_work_independently(open_page, model_weights, tmp_path):
    views = [al.viz.head_view(model_weights, TOKENS), al.viz.model_view(model_weights),
             al.viz.head_view(model_weights[1], TOKENS)]
    path = tmp_path / "page.html"
    html.save_document(html.document(views), path)
    page = open_page(path)
    roots = page.page.locator(".attnlab-view")
    assert roots.count() == 3
    assert [roots.nth(i).get_attribute("data-kind") for i in range(3)] == ["head_view", "model_view", "head_view"]
    second_lines = ".attnlab-view >> nth=2 >> canvas"
    before = page.signature(second_lines)
    assert page.signature(".attnlab-view >> nth=0 >> canvas")[0] > 0 and before[0] > 0
    roots.nth(2).locator(".attnlab-queries .attnlab-token").nth(2).hover()
    assert roots.nth(2).get_attribute("data-focus") == "q2"
    assert roots.nth(0).get_attribute("data-focus") == ""
    assert page.signature(second_lines) != before
    roots.nth(1).locator(".attnlab-thumb").nth(4).click()
    assert roots.nth(1).get_attribute("data-selected") == "1,1"


def test_long_head_view_renders(open_page, rng, tmp_path):
    length = 1024
    weights = softmax_rows(4 * rng.standard_normal((2, length, length))).astype(np.float32)
    path = al.viz.head_view(weights).save_html(tmp_path / "long.html")
    start = time.perf_counter()
    page = open_page(path)
    assert page.signature(".attnlab-view canvas")[0] > 1000
    print(f"1024-token head_view, 2 heads: open and draw {time.perf_counter() - start:.2f} s")
    drawn = int(page.data(".attnlab-view", "lines"))
    assert 1000 < drawn <= 4096  # the strongest lines only, until a token is hovered
    assert page.page.locator(".attnlab-readout").text_content().startswith(f"the {drawn} strongest of ")
    labels = page.page.locator(".attnlab-queries .attnlab-token")
    assert 50 < labels.count() < length  # thinned
    labels.nth(10).hover()
    assert 0 < int(page.data(".attnlab-view", "lines")) <= html.LINES_PER_HEAD // length * 2
