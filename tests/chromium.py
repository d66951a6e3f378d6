"""Where the browser tests find Chromium: Debian's (playwright's own browser download is not
used); a test skips where there is none."""

import shutil
from pathlib import Path

import pytest


def chromium_executable() -> str:
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no Chromium executable (/usr/bin/chromium, chromium or chromium-browser on PATH)")
