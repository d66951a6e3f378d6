"""attnlab/viz/html.py without a browser: what every View is (self-contained HTML with fresh
ids, escaped data, a static picture for where scripts do not run), how it saves by extension,
shows itself in a browser, and documents of several views. tests/viz/test_browser.py opens the
same views in Chromium."""

import os
import re
import sys
import webbrowser
from importlib import resources

import numpy as np
import pytest

import attnlab as al
from attnlab.viz import html

MAGIC = {
    ".png": b"\x89PNG\r\n\x1a\n",
    ".svg": b"<?xml",
    ".pdf": b"%PDF-",
    ".html": b"<!DOCTYPE html>",
}


def _neuron_view(weights, tokens):
    attn = al.nn.MultiheadAttention(8, 2)
    with al.record_attention(attn, qk=True) as rec:
        attn(np.linspace(-1, 1, 40, dtype=np.float32).reshape(1, 5, 8))
    return al.viz.neuron_view(rec, tokens)


VIEWS = {
    "head_view": lambda w, t: al.viz.head_view(w, t),
    "model_view": lambda w, t: al.viz.model_view(w, t),
    "timeline": lambda w, t: al.viz.timeline([(0, w), (10, w)], t),
    "neuron_view": _neuron_view,
}


@pytest.fixture(params=sorted(VIEWS))
def view(request, model_weights):
    return VIEWS[request.param](model_weights, list("abcde"))


def test_assets_are_package_files():
    names = {p.name for p in resources.files("attnlab.viz").joinpath("assets").iterdir()}
    assert {
        "common.js",
        "head_view.js",
        "model_view.js",
        "timeline.js",
        "neuron_view.js",
        "views.css",
    } <= names


def test_views_are_self_contained(view):
    page = view.html
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for external in (
        "https:",
        "//cdn",
        "require(",
        "fetch(",
        "XMLHttpRequest",
        "import(",
        "@import",
        "url(",
        "@font-face",
    ):
        assert external not in page, external
    # "http:" only as the name of SVG's namespace (downloads are SVG documents), never fetched
    assert page.replace('"http://www.w3.org/2000/svg"', "").count("http:") == 0
    markup = re.sub(r"<(script|style)>.*?</\1>", "", page, flags=re.S)
    assert re.findall(r'(?:href|src)="([^"]*)"', markup) == ["data:,"]
    assert page.count("<script>") == 1 and "attnlabViews.start(document.getElementById(" in page
    assert "attnlab-fallback" not in markup  # a file opened in a browser runs its script


def test_notebook_output_carries_a_static_picture_for_where_scripts_do_not_run(plt, view):
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    assert bundle["image/png"].startswith(MAGIC[".png"])
    fragment = bundle["text/html"]
    element = re.search(r'<div class="attnlab-view" id="(attnlab-[0-9a-f]+)"', fragment).group(1)
    fallback = re.search(
        rf'<div class="attnlab-fallback" id="{element}-fallback">(.*?)</div></div>', fragment
    )
    fallback = fallback.group(1)
    assert '<img alt="' in fallback and 'src="data:image/png;base64,' in fallback
    assert "run the cell (or trust the notebook)" in fallback
    assert fragment.index("attnlab-fallback") < fragment.index("<script>")
    assert bundle["text/plain"] == repr(view)


def test_without_matplotlib_the_fallback_is_a_note(monkeypatch, model_weights):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    view = al.viz.model_view(model_weights)
    bundle = view._repr_mimebundle_()
    assert "image/png" not in bundle and "<img" not in bundle["text/html"]
    assert "Install matplotlib for a static picture here." in bundle["text/html"]
    with pytest.raises(ImportError, match=r"attnlab.viz.model_view needs matplotlib"):
        view.figure()


def test_every_render_gets_fresh_ids(model_weights):
    view = al.viz.head_view(model_weights)
    ids = [
        re.search(r'id="(attnlab-[0-9a-f]+)"', view._fragment(fallback=False)).group(1)
        for _ in range(3)
    ]
    page = al.viz.document([view, al.viz.model_view(model_weights), view])
    ids += re.findall(r'<div class="attnlab-view" id="(attnlab-[0-9a-f]+)"', page)
    assert len(ids) == 6 and len(set(ids)) == 6


def test_tokens_cannot_escape_the_script(model_weights, payload):
    hostile = ["<script>alert(1)</script>", "</script><b>x", "&amp;", "\"'", "\u2028"]
    view = al.viz.head_view(model_weights, hostile)
    page = view.html
    assert page.count("</script>") == 1 and "<b>" not in page
    assert not {"<", ">", "&"} & set(view._data)  # each as a \\u escape
    assert payload(view)["tokens"] == hostile


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_save_writes_by_extension(plt, view, tmp_path, suffix):
    path = view.save(tmp_path / f"view{suffix.upper() if suffix == '.png' else suffix}")
    assert path.read_bytes().startswith(MAGIC[suffix])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not mkstemp's 0600


def test_save_html_is_save(model_weights, tmp_path):
    view = al.viz.model_view(model_weights)
    text = view.save_html(tmp_path / "a.html").read_text(encoding="utf-8")
    assert "attnlabViews.model_view =" in text
    assert "<title>model view (2 layers x 3 heads)</title>" in text
    assert repr(view) == "<attnlab View model_view: model view (2 layers x 3 heads)>"


def test_save_errors_name_the_callers_path(model_weights, tmp_path):
    view = al.viz.model_view(model_weights)
    missing = tmp_path / "no such folder" / "view.html"
    for path in (missing, missing.with_suffix(".png")):
        message = f"path: cannot save {str(path)!r}: the folder {str(path.parent)!r} does not exist"
        with pytest.raises(FileNotFoundError, match=re.escape(message)):
            view.save(path)
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(missing)))):
        view.save_html(missing)
    with pytest.raises(
        ValueError,
        match=r"path: '.*view.jpg' ends in '.jpg'; expected one of "
        r"\.html, \.svg, \.png, \.pdf",
    ):
        view.save(tmp_path / "view.jpg")
    with pytest.raises(ValueError, match=r"ends in 'no extension'"):
        view.save(tmp_path / "view")
    assert list(tmp_path.iterdir()) == []


def test_show_opens_a_saved_page_in_the_browser(monkeypatch, model_weights, capsys):
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    view = al.viz.head_view(model_weights)
    path = view.show()
    try:
        assert opened == [path.as_uri()] and path.suffix == ".html"
        assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert capsys.readouterr().out == ""
        monkeypatch.setattr(webbrowser, "open", lambda url: False)
        second = view.show()
        assert f"no web browser found; open {second.as_uri()}" in capsys.readouterr().out
        second.unlink()
    finally:
        path.unlink()


def test_document_and_save_document(model_weights, tmp_path):
    views = [al.viz.head_view(model_weights), al.viz.model_view(model_weights)]
    page = al.viz.document(views, title="two <views>")
    assert "<title>two &lt;views&gt;</title>" in page and page.count("<script>") == 2
    path = al.viz.save_document(views, tmp_path / "both.html", title="both")
    text = path.read_text(encoding="utf-8")
    assert text.count('class="attnlab-view"') == 2 and "<title>both</title>" in text
    for bad in (views[0], "text", [views[0], "x"]):
        with pytest.raises(TypeError, match=r"views: expected a list of attnlab Views"):
            al.viz.document(bad)
    assert al.viz.document is html.document and al.viz.save_document is html.save_document
