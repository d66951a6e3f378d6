"""interop/__init__.py: attnlab imports and runs without torch (interop imports it only when
used, and says how to get it when it is missing); the torch models are attributes of
attnlab.interop."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import attnlab as al

WITHOUT_TORCH = """
import json, sys
import attnlab as al
imported = "torch" in sys.modules
al.models.GPT(5, 4, n_layer=1, n_head=1, d_model=4)(__import__("numpy").zeros((1, 4), int))
sys.modules["torch"] = None  # from here on, `import torch` fails as if it were not installed
errors = []
for call in (lambda: al.interop.from_torch(None), lambda: al.interop.to_torch(None),
             lambda: al.interop.TorchGPT):
    try:
        call()
    except ImportError as e:
        errors.append(str(e))
print(json.dumps({"imported": imported, "errors": errors}))
"""


def test_attnlab_runs_without_torch_and_interop_says_what_it_needs():
    env = dict(os.environ, PYTHONPATH=str(Path(al.__file__).parents[1]))
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["imported"] is False
    message = (
        "attnlab.interop needs PyTorch (pip install torch); the rest of attnlab runs without it"
    )
    assert report["errors"] == [message] * 3


def test_torch_models_are_attributes_of_interop():
    pytest.importorskip("torch")
    from attnlab.interop import models

    for name in ("TorchGPT", "TorchEncoderClassifier", "TorchSeq2Seq"):
        assert getattr(al.interop, name) is getattr(models, name)
        assert name in dir(al.interop) and name in al.interop.__all__
    with pytest.raises(AttributeError, match="module 'attnlab.interop' has no attribute 'Torch'"):
        al.interop.Torch  # noqa: B018
