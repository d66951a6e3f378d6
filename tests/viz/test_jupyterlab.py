"""The views at home in a real JupyterLab (and Notebook 7, the same server), driven in Chromium:
a JupyterLab server on 127.0.0.1 with a token, its own Jupyter folders and a kernel on this
interpreter, runs a notebook of views; they draw, answer the mouse and the arrow keys (which
the notebook would otherwise take), several per page; a copy opened untrusted shows each
view's static picture and a note instead of a blank. The server is stopped afterwards. Skips
only where jupyterlab, playwright or Chromium are absent."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from jupyter_kernel import KERNEL, kernel_environment

pytest.importorskip("jupyterlab")
nbformat = pytest.importorskip("nbformat")

TOKEN = "attnlab-test-token"
TIMEOUT_MS = 240_000  # JupyterLab's first page load on 2 busy cores
CELLS = [
    "import numpy as np\nimport attnlab as al\nrng = np.random.default_rng(0)\n"
    "tokens = ['The', 'cat', 'sat', 'on', 'the', 'mat', '.']\n"
    "scores = 3 * rng.standard_normal((2, 3, 7, 7))\n"
    "weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)\n"
    "al.viz.head_view(weights, tokens)",
    "al.viz.timeline([(0, weights * 0.5), (50, weights), (100, weights)], tokens)",
    "al.viz.model_view(weights, tokens)",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, notebook folder) of a JupyterLab server that this fixture starts and stops."""
    root = tmp_path_factory.mktemp("jupyterlab")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    env = kernel_environment(root / "jupyter") | {
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    port = _free_port()
    log = open(root / "server.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={TOKEN}",
            f"--ServerApp.root_dir={notebooks}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
                    break
            except OSError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "JupyterLab did not start: " + (root / "server.log").read_text()
                    ) from error
                time.sleep(0.5)
        yield url, notebooks
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its kernels: the group it leads
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


class Lab:
    """A Chromium page on the server, recording page errors and requests off the server."""

    def __init__(self, browser, url: str):
        self.url = url
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors, self.elsewhere = [], []
        # JupyterLab's own errors are not this test's: only those of the views' code count
        self.page.on(
            "pageerror",
            lambda e: "attnlab" in f"{e}{e.stack}" and self.errors.append(f"{e}\n{e.stack}"),
        )
        self.page.on(
            "console",
            lambda m: m.type == "error" and "attnlab" in m.text and self.errors.append(m.text),
        )
        self.page.on(
            "request",
            lambda r: (
                r.url.startswith(url) or r.url.startswith("data:") or self.elsewhere.append(r.url)
            ),
        )

    def open(self, path: str, ready: str) -> None:
        self.page.goto(f"{self.url}/{path}?token={TOKEN}", timeout=TIMEOUT_MS)
        self.page.wait_for_selector(ready, timeout=TIMEOUT_MS)

    def active_cell(self) -> int:
        return self.page.evaluate(
            "() => Array.from(document.querySelectorAll("
            "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')).findIndex("
            "c => c.classList.contains('jp-mod-active'))"
        )

    def step(self) -> str:
        return self.page.locator(".attnlab-view[data-kind=timeline]").get_attribute("data-step")

    def close(self) -> None:
        self.page.close()
        assert self.errors == [] and self.elsewhere == []


def _click_slider_thumb(lab: Lab) -> None:
    """Focuses the timeline's slider as a user does: a click on its thumb (at the last step)."""
    slider = lab.page.locator(".attnlab-slider")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    lab.page.mouse.click(box["x"] + box["width"] - 8, box["y"] + box["height"] / 2)


def test_views_draw_answer_mouse_and_keys_and_fall_back_untrusted(server, browser):
    url, notebooks = server
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {
        "name": KERNEL,
        "display_name": "attnlab tests",
        "language": "python",
    }
    nbformat.write(notebook, notebooks / "views.ipynb")

    lab = Lab(browser, url)
    lab.open("lab/tree/views.ipynb", ".jp-Notebook .jp-Cell")
    # JupyterLab asks which kernel to start when a notebook runs before its session is ready
    lab.page.wait_for_selector(
        ".jp-Dialog .jp-mod-accept, :text('attnlab tests | Idle')", timeout=TIMEOUT_MS
    )
    if lab.page.locator(".jp-Dialog .jp-mod-accept").count():
        lab.page.locator(".jp-Dialog .jp-mod-accept").click()
        lab.page.wait_for_selector(":text('attnlab tests | Idle')", timeout=TIMEOUT_MS)
    lab.page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    lab.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    lab.page.wait_for_selector(
        ".attnlab-view[data-kind=model_view] .attnlab-thumb", timeout=TIMEOUT_MS
    )
    views = lab.page.locator(".attnlab-view")
    assert [views.nth(i).get_attribute("data-kind") for i in range(3)] == [
        "head_view",
        "timeline",
        "model_view",
    ]
    assert lab.page.locator(".attnlab-fallback").count() == 0  # the scripts ran
    inked = lab.page.locator(".attnlab-lines").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".filter((v, i) => i % 4 == 0 && v < 200).length"
    )
    assert inked > 100
    # the mouse
    lab.page.locator(".attnlab-queries .attnlab-token").nth(2).hover()
    assert views.nth(0).get_attribute("data-focus") == "q2"
    views.nth(2).locator(".attnlab-thumb").nth(4).click()
    assert views.nth(2).get_attribute("data-selected") == "1,1"
    # the keys: the slider takes the arrows, not the notebook
    assert lab.step() == "100"
    _click_slider_thumb(lab)
    active = lab.active_cell()
    lab.page.keyboard.press("ArrowLeft")
    assert lab.step() == "50" and lab.active_cell() == active
    lab.page.locator(".attnlab-view[data-kind=timeline] .attnlab-layer").focus()
    lab.page.keyboard.press("ArrowDown")
    assert lab.page.locator(".attnlab-view[data-kind=timeline]").get_attribute("data-layer") == "1"
    # the control: without the attribute, the notebook takes the arrow and the slider stays
    lab.page.locator(".attnlab-slider").evaluate(
        "s => s.removeAttribute('data-lm-suppress-shortcuts')"
    )
    _click_slider_thumb(lab)
    lab.page.keyboard.press("ArrowLeft")
    assert lab.step() == "100"
    lab.page.keyboard.press("Control+s")
    lab.page.wait_for_function(
        "() => !document.querySelector("
        "'.jp-mod-current .jp-mod-dirty, .lm-mod-current.jp-mod-dirty')",
        timeout=TIMEOUT_MS,
    )
    lab.close()

    saved = json.loads((notebooks / "views.ipynb").read_text())
    assert all({"text/html", "image/png"} <= set(c["outputs"][0]["data"]) for c in saved["cells"])

    # Notebook 7 on the same server: the saved (so trusted) notebook's views run there too
    notebook7 = Lab(browser, url)
    notebook7.open("notebooks/views.ipynb", ".attnlab-view[data-kind=timeline] .attnlab-slider")
    _click_slider_thumb(notebook7)
    notebook7.page.keyboard.press("ArrowLeft")
    assert notebook7.step() == "50"
    notebook7.close()

    # a copy from someone else (its content differs, so no signature of this server matches)
    saved["metadata"]["copied"] = True
    (notebooks / "copy.ipynb").write_text(json.dumps(saved))
    untrusted = Lab(browser, url)
    untrusted.open("lab/tree/copy.ipynb", ".jp-OutputArea-output img")
    panel = untrusted.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    pictures = panel.locator(".jp-OutputArea-output img")
    # JupyterLab renders the outputs one by one: wait for the last before counting them
    pictures.nth(2).wait_for(state="visible", timeout=TIMEOUT_MS)
    assert pictures.count() == 3
    for i in range(3):
        assert pictures.nth(i).is_visible()
        assert pictures.nth(i).evaluate("img => img.complete && img.naturalWidth") > 200
    assert panel.locator(".jp-OutputArea-output", has_text="trust the notebook").count() == 3
    assert panel.locator(".attnlab-lines, .attnlab-thumb").count() == 0  # no script ran
    untrusted.close()
