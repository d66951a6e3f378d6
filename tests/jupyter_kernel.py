"""An IPython kernel on this very interpreter for the tests that run notebooks or JupyterLab:
a kernelspec in a temporary JUPYTER_PATH (a user's own "python3" kernelspec may point at
another Python), and the environment in which the kernel imports the attnlab under test."""

import json
import os
import sys
from pathlib import Path

import attnlab

KERNEL = "attnlab-tests"


def kernel_environment(root: Path) -> dict[str, str]:
    """os.environ plus JUPYTER_PATH holding the kernelspec KERNEL (written under ``root``) and
    attnlab's own folder first on PYTHONPATH."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "attnlab tests",
                "language": "python",
            }
        )
    )
    package = str(Path(attnlab.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (package, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "JUPYTER_PATH": str(root), "PYTHONPATH": path}
