"""Regenerates the README's gallery: runs the demo into docs/gallery (``python -m attnlab demo
--out docs/gallery``: the static pictures and the HTML views), then opens each HTML view in
headless Chromium, as a reader would use it, and saves a screenshot of it beside the others:

    python scripts/gallery.py [--out docs/gallery] [--chromium /usr/bin/chromium]

head_view.png shows the first layer with one query of the answer pinned, model_view.png a
head of it enlarged, timeline.png that layer at the last step, neuron_view.png its head 0 at
the last query. Needs playwright and Chromium.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from attnlab.__main__ import main as attnlab_main

# What each view's screenshot shows: the actions taken on its page first.
ACTIONS = {
    "head_view": lambda page: page.locator(".attnlab-queries .attnlab-token").nth(12).click(),
    "model_view": lambda page: page.locator(".attnlab-thumb").nth(1).click(),
    "timeline": lambda page: None,
    "neuron_view": lambda page: None,
}


def screenshots(folder: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for name, act in ACTIONS.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto((folder / f"{name}.html").resolve().as_uri())
            act(page)
            written.append(folder / f"{name}.png")
            page.locator(".attnlab-view").screenshot(path=written[-1])
            page.close()
        browser.close()
    return written


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/gallery")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    folder = Path(args.out)
    attnlab_main(["demo", "--out", str(folder), "--no-progress"])
    for path in screenshots(folder, args.chromium):
        print(f"  {path.name} (screenshot in Chromium)")


if __name__ == "__main__":
    run()
