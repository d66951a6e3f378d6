"""PyTorch interop: ``from_torch`` brings a torch.nn module into attnlab (to record and view
its attention), ``to_torch`` takes an attnlab module or model to PyTorch (to train it on GPUs
or with torch.distributed). attnlab grows no engine of its own for either.

>>> import torch, attnlab as al
>>> gpt = al.models.GPT(vocab_size=12, block_size=16, n_layer=2, n_head=2, d_model=32)
>>> torch_gpt = al.interop.to_torch(gpt)          # an al.interop.TorchGPT (a torch.nn.Module)
>>> back = al.interop.from_torch(torch_gpt)       # an al.models.GPT again, bitwise the same

What converts, both ways (the same parameter names on both sides, so that the state_dicts
are the same arrays):

- torch.nn.Linear, Embedding, LayerNorm, MultiheadAttention (with or without bias, kdim/vdim,
  add_bias_kv, add_zero_attn), TransformerEncoderLayer / TransformerEncoder,
  TransformerDecoderLayer / TransformerDecoder and Transformer (post- or pre-norm, relu or
  gelu, the stacks' final ``norm``) <-> the attnlab.nn module of the same name;
- attnlab's models ``GPT`` (learned, rotary or ALiBi positions), ``EncoderClassifier`` and
  ``Seq2Seq`` <-> :class:`TorchGPT`, :class:`TorchEncoderClassifier`,
  :class:`TorchSeq2Seq`: plain torch.nn modules with the same forward and parameter names,
  defined in ``attnlab.interop.models`` (importing it needs torch).

A torch module of another class (a subclass included: it may compute something else) is a
``TypeError`` naming its class; a setting the counterpart cannot hold (an activation attnlab
lacks or a custom callable, a parameter layout that does not fit, a LayerNorm eps <= 0,
forward hooks, an Embedding's ``max_norm``, a float16 module) an error naming it, never a
silently different model. Outputs agree within 1e-5 in float32, eval mode.

Conventions that differ (see each function): attnlab is batch-first everywhere, and its masks
say True = may attend (``key_mask`` True = real token, the negation of torch's
``key_padding_mask``). torch itself is imported only when one of these functions runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["TorchEncoderClassifier", "TorchGPT", "TorchSeq2Seq", "from_torch", "to_torch"]

_MODEL_CLASSES = ("TorchEncoderClassifier", "TorchGPT", "TorchSeq2Seq")


def _load(name: str) -> ModuleType:
    """attnlab.interop.<name>, which imports torch (an ImportError that says so without it)."""
    return importlib.import_module(f"attnlab.interop.{name}")


def from_torch(module: Any) -> Any:
    """The attnlab module or model equivalent to the torch.nn ``module``: same structure,
    parameter names and settings, its weights copied (bitwise), its train/eval mode and
    ``requires_grad`` flags kept. Weights on a GPU are copied to the host.

    The result is batch-first, as all of attnlab: a torch module with ``batch_first=False``
    (torch's default) converts too, and the attnlab module then takes the same data as (B, L,
    C) (``x.transpose(1, 0, 2)`` of torch's (L, B, C)). Its layout is recorded in the result's
    ``torch_batch_first`` attribute, which :func:`to_torch` rebuilds, so that
    ``to_torch(from_torch(m))`` reproduces m. Masks: pass torch's ``key_padding_mask`` negated
    as ``key_mask`` and a bool ``attn_mask`` negated as ``mask`` (or ``is_causal=True`` for
    the causal one).

    A TransformerEncoder with ``enable_nested_tensor`` (torch's default) returns zeros at
    padded positions in its inference fast path; attnlab computes them as the layers do (the
    real positions agree).

    Raises:
        TypeError: ``module`` is not a torch.nn.Module, or it (or a submodule) is of a class
            attnlab does not convert; its dtype is not float32 or float64.
        ValueError: a setting attnlab cannot express, named.
    """
    return _load("convert").from_torch(module)


def to_torch(module: Any, *, batch_first: bool | None = None) -> Any:
    """The torch.nn module equivalent to the attnlab ``module`` (an attnlab.nn layer or a
    model of attnlab.models), on the CPU in the module's dtype, with its weights copied
    (bitwise), its train/eval mode and ``requires_grad`` flags kept. Move it with
    ``.to("cuda")``; come back with :func:`from_torch`.

    ``batch_first``: the layout of the torch attention and transformer layers built. None
    (default): the layout of the torch module that ``module`` came from (its
    ``torch_batch_first``, set by :func:`from_torch`), else True. The torch versions of
    attnlab's models take (B, T) token ids and only ``batch_first=True``.

    Raises:
        TypeError: ``module`` is not an attnlab module, or one (or a submodule) without a
            torch counterpart.
        ValueError: a setting torch.nn's counterpart cannot express, named (rotary, ALiBi or
            T5 positions and grouped-query heads on a MultiheadAttention, a swiglu or custom
            activation, a ``head_mask``, ...).
    """
    return _load("convert").to_torch(module, batch_first=batch_first)


def __getattr__(name: str) -> Any:
    # The torch versions of attnlab's models subclass torch.nn.Module: defined on first use.
    if name in _MODEL_CLASSES:
        return getattr(_load("models"), name)
    raise AttributeError(f"module 'attnlab.interop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_MODEL_CLASSES))
