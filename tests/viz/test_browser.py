"""The HTML views in a real headless Chromium (Debian's, driven by playwright): they draw what
the weights are (pixels read back), answer the mouse and the keys, export PNG and SVG, log no
console error and request nothing but their own file. Skips only where no Chromium executable
exists."""

import base64
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

import attnlab as al
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

# The darkest ink on a canvas (255 - the lowest channel of any pixel) and the total ink, right of
# a fraction of its width (lines from one token converge at the left).
INK = """(canvas, from) => {
  const left = Math.floor(from * canvas.width);
  const px = canvas.getContext("2d").getImageData(left, 0, canvas.width - left, canvas.height).data;
  let darkest = 0, total = 0;
  for (let i = 0; i < px.length; i += 4) {
    const ink = 255 - Math.min(px[i], px[i + 1], px[i + 2]);
    darkest = Math.max(darkest, ink);
    total += ink;
  }
  return [darkest, total];
}"""


class Page:
    """A page opened on one saved file, recording console errors and every request."""

    def __init__(self, browser, path: Path):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url == self.url else route.abort(),
        )
        self.page.goto(self.url, timeout=30_000)

    def signature(self, selector: str):
        return self.page.locator(selector).evaluate(SIGNATURE)

    def ink(self, selector: str, right_of: float = 0.0):
        return self.page.locator(selector).evaluate(INK, right_of)

    def data(self, name: str, root: str = ".attnlab-view") -> str:
        return self.page.locator(root).get_attribute(f"data-{name}")

    def text(self, selector: str) -> str:
        return self.page.locator(selector).text_content()

    def download(self, button: str) -> tuple[str, bytes]:
        with self.page.expect_download() as info:
            self.page.locator(".attnlab-export button", has_text=button).click()
        download = info.value
        return download.suggested_filename, Path(download.path()).read_bytes()

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
    return softmax_rows(3 * rng.standard_normal((2, 3, len(TOKENS), len(TOKENS)))).astype(
        np.float32
    )


# ---- head_view ---------------------------------------------------------------------------


def test_head_view_draws_and_focuses_hovered_tokens(open_page, model_weights, tmp_path):
    page = open_page(al.viz.head_view(model_weights, TOKENS).save(tmp_path / "head.html"))
    lines = ".attnlab-lines"
    inked, everything = page.signature(lines)
    assert inked > 100
    labels = page.page.locator(".attnlab-queries .attnlab-token:not(.attnlab-cursor)")
    assert labels.all_text_contents() == TOKENS  # the <script> token shows as text
    assert [t.strip() for t in page.page.locator(".attnlab-column-title").all_text_contents()] == [
        "query (8)",
        "key (8)",
    ]
    labels.nth(3).hover()
    assert page.data("focus") == "q3"
    assert page.text(".attnlab-readout").startswith(
        "query 3 \u201csat\u201d \u2014 strongest key \u2014 head 0: "
    )
    assert page.page.locator(".attnlab-focus").all_text_contents() == ["sat"]
    focused = page.signature(lines)
    assert focused[1] != everything and 0 < focused[0] < inked
    page.page.locator(".attnlab-keys .attnlab-token").nth(1).hover()
    assert page.data("focus") == "k1"
    assert page.signature(lines)[1] not in (everything, focused[1])
    page.page.mouse.move(1300, 850)
    assert page.data("focus") == ""
    assert page.signature(lines)[1] == everything
    page.page.locator(".attnlab-head").nth(1).click()
    assert page.data("heads") == "0,2"
    assert page.signature(lines)[1] != everything
    page.page.locator(".attnlab-layer").select_option("1")
    assert page.data("layer") == "1"


def test_head_view_line_opacity_is_the_absolute_weight(open_page, tmp_path):
    """A uniform row draws fainter than a one-hot row; row-normalised, both look the same."""
    # rows: uniform, one-hot, uniform, ...
    weights = np.array([np.full(8, 1 / 8), np.eye(8)[5]] * 4, dtype=np.float32)
    page = open_page(al.viz.head_view(weights, TOKENS).save(tmp_path / "faint.html"))
    labels = page.page.locator(".attnlab-queries .attnlab-token:not(.attnlab-cursor)")
    darkness = {}
    for scale in ("absolute", "row"):
        page.page.locator(".attnlab-scale").select_option(scale)
        assert page.data("scale") == scale
        for row in (0, 1):
            labels.nth(row).hover()
            darkness[scale, row] = page.ink(".attnlab-lines", right_of=0.5)
    uniform, one_hot = darkness["absolute", 0], darkness["absolute", 1]
    assert uniform[0] < 0.25 * one_hot[0]  # each line of the uniform row is faint (weight 1/8)
    assert one_hot[0] > 150 and 0.5 < uniform[1] / one_hot[1] < 2  # 8 lines of 1/8: as much ink
    # the option: as strong as its row's strongest
    assert darkness["row", 0][0] > 0.8 * darkness["row", 1][0]


def test_head_view_overlapping_heads_stay_visible(open_page, tmp_path):
    """Two heads that both attend 2 -> 5 with the same weight: both colours are drawn, and in
    either order of heads the picture is the same (no head paints over another)."""
    one = np.eye(8, dtype=np.float32)[[5] * 8]
    page = open_page(al.viz.head_view(np.stack([one, one]), TOKENS).save(tmp_path / "overlap.html"))
    page.page.locator(".attnlab-queries .attnlab-token").nth(2).click()  # pinned
    colours = page.page.locator(".attnlab-lines").evaluate("""canvas => {
      const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let reddish = 0, cyanish = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i] > px[i + 2] + 60) reddish++;
        if (px[i + 2] > px[i] + 60) cyanish++;
      }
      return [reddish, cyanish];
    }""")
    assert colours[0] > 20 and colours[1] > 20
    both = page.signature(".attnlab-lines")
    page.page.locator(".attnlab-head").nth(0).click()
    page.page.locator(".attnlab-head").nth(0).click()  # head 0 now drawn after head 1
    assert page.data("heads") == "0,1" and page.signature(".attnlab-lines") == both


def test_head_view_hovering_a_line_reads_its_weight_and_positions(open_page, tmp_path):
    weights = np.zeros((8, 8), np.float32)
    weights[:, 6] = 0.75
    weights[:, 1] = 0.25
    view = al.viz.head_view(weights, [str(i % 3) for i in range(8)])
    page = open_page(view.save(tmp_path / "line.html"))
    canvas = page.page.locator(".attnlab-lines")
    box = canvas.bounding_box()
    page.page.locator(".attnlab-queries .attnlab-token").nth(4).click()  # pinned: only its lines
    assert page.data("focus") == "q4" and "pinned" in page.text(".attnlab-readout")
    # the line 4 -> 6 at the canvas's middle: rows are 20 px apart
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + (4.5 + 6.5) / 2 * 20)
    assert page.data("line") == "0,4,6"
    assert page.text(".attnlab-readout") == (
        "head 0: query 4 \u201c1\u201d \u2192 key 6 \u201c0\u201d: weight 0.7500"
    )


def test_head_view_exports_png_and_svg(open_page, model_weights, tmp_path):
    page = open_page(al.viz.head_view(model_weights, TOKENS).save(tmp_path / "export.html"))
    name, png = page.download("PNG")
    assert name == "attnlab-head-view.png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    name, svg = page.download("SVG")
    text = svg.decode("utf-8")
    assert name == "attnlab-head-view.svg" and text.startswith("<svg xmlns=")
    assert text.count("<path ") >= 3 and "mix-blend-mode:multiply" in text
    assert "&lt;script&gt;al" in text and "<script>" not in text  # escaped (and cut to fit)
    assert "query (8)" in text and "line opacity = weight" in text
    # the SVG renders in the browser as a picture with ink
    data_url = page.page.locator(".attnlab-view").evaluate("root => root.attnlabPicture('svg')")
    assert urllib.parse.unquote(data_url.split(",", 1)[1]) == text


def test_long_head_view_says_what_it_shows_and_finds_tokens(open_page, rng, tmp_path):
    length = 1024
    weights = softmax_rows(4 * rng.standard_normal((2, length, length))).astype(np.float32)
    tokens = [f"t{i}" for i in range(length)]
    tokens[777] = "needle"
    path = al.viz.head_view(weights, tokens).save(tmp_path / "long.html")
    start = time.perf_counter()
    page = open_page(path)
    assert page.signature(".attnlab-lines")[0] > 1000
    print(f"1024-token head_view, 2 heads: open and draw {time.perf_counter() - start:.2f} s")
    notes = page.text(".attnlab-notes")
    assert "each query keeps its 32 strongest keys of 1024 (top_k=32)" in notes
    drawn = int(page.data("lines"))
    assert 1000 < drawn <= 4096  # the strongest lines only, until a token is hovered
    assert page.text(".attnlab-readout").startswith(f"the {drawn} strongest of ")
    labels = page.page.locator(".attnlab-queries .attnlab-token:not(.attnlab-cursor)")
    assert 50 < labels.count() < length  # thinned
    labels.nth(10).hover()
    assert 0 < int(page.data("lines")) <= 2 * 32
    # a token between two labels is highlighted too
    column = page.page.locator(".attnlab-queries")
    column.hover(position={"x": 60, "y": (501 + 0.5) * column.bounding_box()["height"] / length})
    assert page.data("focus") == "q501"
    cursor = page.page.locator(".attnlab-queries .attnlab-cursor")
    assert cursor.is_visible() and cursor.text_content() == "t501"
    assert "attnlab-focus" in cursor.get_attribute("class")
    find = page.page.locator(".attnlab-find")
    find.fill("needle")
    assert page.data("found") == "1" and page.text(".attnlab-found") == "1 found"
    find.press("Enter")
    assert page.data("focus") == "q777"
    assert page.text(".attnlab-readout").startswith("query 777 \u201cneedle\u201d")


# ---- model_view --------------------------------------------------------------------------


def test_model_view_enlarges_the_clicked_head_with_axes_and_colour_bar(
    open_page, model_weights, tmp_path
):
    page = open_page(al.viz.model_view(model_weights, TOKENS).save(tmp_path / "model.html"))
    thumbs = page.page.locator(".attnlab-thumb")
    assert thumbs.count() == 6
    for i in range(6):
        assert page.signature(f".attnlab-thumb >> nth={i}")[0] > 0
    assert not page.page.locator(".attnlab-big").is_visible()
    thumbs.nth(5).click()
    assert page.data("selected") == "1,2"
    big = page.page.locator(".attnlab-big")
    assert big.is_visible()
    first = page.signature(".attnlab-big")
    # the heatmap leaves room for query labels (left), key labels (below) and a colour bar
    size = big.bounding_box()
    assert size["width"] > 360 + 40 and size["height"] > 360 + 20
    colour_bar = big.evaluate("""canvas => {
      const c = canvas.getContext("2d"), r = canvas.width / canvas.clientWidth;
      const x = Math.round((canvas.clientWidth - 50 + 5) * r);
      return Array.from(c.getImageData(x, 0, 1, canvas.height).data);
    }""")
    assert min(colour_bar[0::4]) < 40  # the bar reaches deep blue
    page.page.locator(".attnlab-big").hover(position={"x": 130, "y": 30})
    readout = page.text(".attnlab-enlarged .attnlab-readout")
    assert readout.startswith("query 0 \u201cThe\u201d \u2192 key ") and ": weight 0." in readout
    thumbs.nth(0).click()
    assert page.data("selected") == "0,0"
    assert page.signature(".attnlab-big") != first
    name, png = page.download("PNG")
    assert name == "attnlab-model-view.png" and png.startswith(b"\x89PNG")


def heatmap_box(page) -> dict:
    """The enlarged head's heatmap on the page: 360 px square, a colour bar (58 px) right of
    it, a title line (18 px) above it, the query labels left of it."""
    big = page.page.locator(".attnlab-big").bounding_box()
    return {"x": big["x"] + big["width"] - 58 - 360, "y": big["y"] + 18, "w": 360, "h": 360}


def reading(readout: str) -> tuple[int, int, float | None]:
    """(query, key, weight or None) from a readout of one token each way."""
    query, rest = readout.removeprefix("query ").split(" \u2192 key ")
    key, value = rest.split(": ", 1)
    weight = float(value.rsplit(" ", 1)[1]) if "weight" in value else None
    return int(query.split()[0]), int(key.split()[0]), weight


def test_model_view_zooms_to_tokens_and_finds_them(open_page, rng, tmp_path):
    length = 1024
    weights = softmax_rows(4 * rng.standard_normal((2, length, length))).astype(np.float32)
    tokens = [f"t{i}" for i in range(length)]
    tokens[700] = "needle"
    page = open_page(al.viz.model_view(weights, tokens).save(tmp_path / "zoom.html"))
    page.page.locator(".attnlab-thumb").nth(1).click()
    reset = page.page.locator(".attnlab-enlarged button", has_text="reset zoom")
    assert page.data("view") == "" and reset.is_disabled()
    assert all(t.isdigit() for t in page.data("row-ticks").split("\n"))  # pooled: positions
    whole = page.signature(".attnlab-big")
    # drag over a 12-pixel square: about 34 tokens each way, every other one labelled
    box, mouse = heatmap_box(page), page.page.mouse
    mouse.move(box["x"] + 100, box["y"] + 100)
    mouse.down()
    mouse.move(box["x"] + 112, box["y"] + 112, steps=4)
    mouse.up()
    rows, cols = (tuple(map(int, span.split("-"))) for span in page.data("view").split(","))
    assert rows[0] <= 100 * length // 360 < rows[1] and 20 < rows[1] - rows[0] < 50
    assert 20 < cols[1] - cols[0] < 50 and not reset.is_disabled()
    ticks = page.data("row-ticks").split("\n")
    assert len(ticks) > 8 and ticks[0] == f"t{rows[0]}" and all(t.startswith("t") for t in ticks)
    assert page.signature(".attnlab-big") != whole
    assert "each query's 32 strongest keys at full resolution" in page.text(".attnlab-zoom-note")
    # each cell is one token: the readout is its weight, as kept (or says it is not kept)
    values = []
    for n in range(40):
        mouse.move(box["x"] + 4 + 9 * n, box["y"] + 4 + 9 * n)
        query, key, weight = reading(page.text(".attnlab-enlarged .attnlab-readout"))
        assert rows[0] <= query < rows[1] and cols[0] <= key < cols[1]
        kept = np.sort(weights[1, query])[-32]
        if weight is None:
            assert weights[1, query, key] < kept
        else:
            assert weights[1, query, key] >= kept
            assert weight == pytest.approx(weights[1, query, key], abs=1e-4)
        values.append(weight)
    assert any(v is not None for v in values)
    reset.click()
    assert page.data("view") == "" and page.signature(".attnlab-big") == whole
    # the wheel halves the span around the pointer
    mouse.move(box["x"] + 90, box["y"] + 270)
    mouse.wheel(0, -100)
    page.page.wait_for_function("() => document.querySelector('.attnlab-view').dataset.view")
    rows, cols = (tuple(map(int, span.split("-"))) for span in page.data("view").split(","))
    assert rows[1] - rows[0] == cols[1] - cols[0] == length // 2
    assert rows[0] <= 270 * length // 360 < rows[1] and cols[0] <= 90 * length // 360 < cols[1]
    # find a token: Enter zooms to it, its row marked, every token of the window labelled
    find = page.page.locator(".attnlab-find")
    find.fill("needle")
    assert page.data("found") == "1" and page.text(".attnlab-found") == "1 found"
    find.press("Enter")
    assert page.data("mark") == "q700" and page.data("view") == "688-712,688-712"
    assert page.data("row-ticks").split("\n") == tokens[688:712]
    assert page.text(".attnlab-enlarged .attnlab-readout").startswith(
        "query 700 \u201cneedle\u201d (match 1 of 1"
    )
    name, svg = page.download("SVG")
    assert name == "attnlab-model-view.svg" and b"needle" in svg


def test_model_view_zooms_into_exact_weights(open_page, model_weights, tmp_path):
    page = open_page(al.viz.model_view(model_weights, TOKENS).save(tmp_path / "exact.html"))
    page.page.locator(".attnlab-thumb").nth(4).click()
    box, mouse = heatmap_box(page), page.page.mouse
    mouse.move(box["x"] + 10, box["y"] + 10)
    mouse.wheel(0, -100)
    page.page.wait_for_function("() => document.querySelector('.attnlab-view').dataset.view")
    assert page.data("view") == "0-4,0-4"
    assert "strongest keys" not in page.text(".attnlab-zoom-note")  # every weight is there
    mouse.move(box["x"] + 3 * 90 + 45, box["y"] + 2 * 90 + 45)
    query, key, weight = reading(page.text(".attnlab-enlarged .attnlab-readout"))
    assert (query, key) == (2, 3) and weight == pytest.approx(model_weights[1, 1, 2, 3], abs=1e-4)


def test_model_view_absolute_scale_shows_diffuse_heads_pale(open_page, tmp_path):
    diffuse = np.full((8, 8), 1 / 8, np.float32)
    sharp = np.eye(8, dtype=np.float32)
    view = al.viz.model_view(np.stack([diffuse, sharp])[None])
    page = open_page(view.save(tmp_path / "pale.html"))
    assert page.ink(".attnlab-thumb >> nth=0")[0] < 0.25 * page.ink(".attnlab-thumb >> nth=1")[0]
    page.page.locator(".attnlab-scale").select_option("head")
    assert page.ink(".attnlab-thumb >> nth=0")[0] > 0.8 * page.ink(".attnlab-thumb >> nth=1")[0]


# ---- timeline ----------------------------------------------------------------------------


def test_timeline_opens_at_the_last_step_and_plays(open_page, rng, tmp_path):
    shape = (2, 2, len(TOKENS), len(TOKENS))
    snapshots = [
        (step, softmax_rows(step / 50 * rng.standard_normal(shape))) for step in (0, 50, 100)
    ]
    page = open_page(al.viz.timeline(snapshots, TOKENS).save(tmp_path / "timeline.html"))
    assert page.data("step") == "100"
    assert "layer 0, step 100 (3 of 3)" in page.text(".attnlab-steptext")
    last = [page.signature(f".attnlab-thumb >> nth={h}") for h in range(2)]
    assert all(inked > 0 for inked, _ in last)
    slider = page.page.locator(".attnlab-slider")
    slider.focus()
    page.page.keyboard.press("ArrowLeft")
    assert page.data("step") == "50"
    assert [page.signature(f".attnlab-thumb >> nth={h}") for h in range(2)] != last
    page.page.keyboard.press("Home")
    assert page.data("step") == "0"
    page.page.keyboard.press("End")
    assert page.data("step") == "100"
    page.page.locator(".attnlab-view button", has_text="play").click()
    assert page.data("step") == "0" and page.data("playing") == "true"
    page.page.wait_for_function(
        "() => document.querySelector('.attnlab-view').dataset.playing === 'false'", timeout=10_000
    )
    assert page.data("step") == "100"
    page.page.locator(".attnlab-panel >> nth=1").hover(position={"x": 40, "y": 40})
    readout = page.text(".attnlab-readout")
    assert readout.startswith("step 100, layer 0, head 1: query ") and ": weight 0." in readout
    assert "\u201c" in readout  # the tokens, with their positions


def test_several_views_in_one_page_work_independently(open_page, model_weights, tmp_path):
    views = [
        al.viz.head_view(model_weights, TOKENS),
        al.viz.model_view(model_weights),
        al.viz.head_view(model_weights[1], TOKENS),
    ]
    page = open_page(al.viz.save_document(views, tmp_path / "page.html"))
    roots = page.page.locator(".attnlab-view")
    assert roots.count() == 3
    assert [roots.nth(i).get_attribute("data-kind") for i in range(3)] == [
        "head_view",
        "model_view",
        "head_view",
    ]
    second_lines = ".attnlab-view >> nth=2 >> .attnlab-lines"
    before = page.signature(second_lines)
    assert page.signature(".attnlab-view >> nth=0 >> .attnlab-lines")[0] > 0 and before[0] > 0
    roots.nth(2).locator(".attnlab-queries .attnlab-token").nth(2).hover()
    assert roots.nth(2).get_attribute("data-focus") == "q2"
    assert roots.nth(0).get_attribute("data-focus") == ""
    assert page.signature(second_lines) != before
    roots.nth(1).locator(".attnlab-thumb").nth(4).click()
    assert roots.nth(1).get_attribute("data-selected") == "1,1"


def test_every_input_and_menu_keeps_its_keys_from_jupyter(open_page, model_weights, tmp_path):
    views = [
        al.viz.head_view(model_weights, TOKENS),
        al.viz.model_view(model_weights),
        al.viz.timeline([(0, model_weights), (1, model_weights)]),
    ]
    page = open_page(al.viz.save_document(views, tmp_path / "keys.html"))
    controls = page.page.locator(".attnlab-view input, .attnlab-view select")
    assert controls.count() == 8  # layer, colour, find; colour, find; layer, step, colour
    for i in range(controls.count()):
        assert controls.nth(i).get_attribute("data-lm-suppress-shortcuts") == "true"


def test_notebook_fragment_replaces_its_static_picture(open_page, plt, model_weights, tmp_path):
    fragment = al.viz.model_view(model_weights)._repr_html_()
    path = tmp_path / "fragment.html"
    path.write_text(
        "<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
        f"{fragment}</body></html>",
        encoding="utf-8",
    )
    page = open_page(path)
    assert page.page.locator(".attnlab-fallback").count() == 0
    assert page.page.locator(".attnlab-thumb").count() == 6
    png = base64.b64decode(fragment.split('src="data:image/png;base64,')[1].split('"')[0])
    assert png.startswith(b"\x89PNG")


# ---- neuron_view -------------------------------------------------------------------------


def test_neuron_view_steps_through_queries_and_reads_cells(open_page, rng, tmp_path):
    attn = al.nn.MultiheadAttention(16, 2)
    with al.record_attention(attn, qk=True) as rec:
        attn(rng.standard_normal((1, len(TOKENS), 16)).astype(np.float32))
    page = open_page(al.viz.neuron_view(rec, TOKENS, head=1).save(tmp_path / "neuron.html"))
    assert page.data("query") == "7"
    before = page.signature(".attnlab-neurons")
    menu = page.page.locator(".attnlab-query")
    menu.focus()
    page.page.keyboard.press("ArrowUp")
    assert page.data("query") == "6" and page.signature(".attnlab-neurons") != before
    # the first key row's first dimension of k: rows start 52 px down, 15 px apart
    page.page.locator(".attnlab-neurons").hover(position={"x": 112, "y": 52 + 7})
    q, k = rec.qk("")
    assert page.data("cell") == "0,0"
    ke, qe = k[0, 1, 0, 0], q[0, 1, 6, 0]
    expected = (
        f"key 0 \u201cThe\u201d, dimension 0: k = {ke:.4f}, q = {qe:.4f}, q * k = {qe * ke:.4f}"
    )
    assert page.text(".attnlab-readout") == expected
    name, svg = page.download("SVG")
    assert name == "attnlab-neuron-view.svg"
    assert "query 6 \u201cmat\u201d \u2014 (root), head 1" in svg.decode()
