"""from_torch and to_torch: pick the builder of the module's exact class (layers.py for
torch.nn's layers, this file for attnlab's models), build the counterpart, then carry the
settings, modes and weights across (transfer.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import nn
from attnlab._validation import flag
from attnlab.interop import layers
from attnlab.interop import models as tm
from attnlab.interop._torch import nn as tnn
from attnlab.interop._torch import torch
from attnlab.interop.transfer import carry, float_dtype
from attnlab.models import GPT, EncoderClassifier, Seq2Seq

_WRAPPERS = {
    "DistributedDataParallel": ".module",
    "DataParallel": ".module",
    "OptimizedModule": "._orig_mod",
}


def _model_from_torch(kind: type):
    def build(m: tnn.Module, where: str, to: layers.Target) -> nn.Module:
        return kind.from_config(m.config, dtype=to.dtype)

    return build


def _model_to_torch(kind: type):
    def build(m: nn.Module, where: str, to: layers.Target) -> tnn.Module:
        if not to.batch_first:
            raise ValueError(
                "batch_first: False; attnlab's models and their torch versions take "
                "(B, T) token ids"
            )
        return kind(m.config).to(to.dtype)

    return build


FROM_TORCH = {
    **layers.FROM_TORCH,
    tm.TorchGPT: _model_from_torch(GPT),
    tm.TorchEncoderClassifier: _model_from_torch(EncoderClassifier),
    tm.TorchSeq2Seq: _model_from_torch(Seq2Seq),
}

TO_TORCH = {
    **layers.TO_TORCH,
    GPT: _model_to_torch(tm.TorchGPT),
    EncoderClassifier: _model_to_torch(tm.TorchEncoderClassifier),
    Seq2Seq: _model_to_torch(tm.TorchSeq2Seq),
}


def _builder(module: Any, table: dict, where: str) -> Any:
    kind = type(module)
    if kind in table:
        return table[kind]
    hint = _WRAPPERS.get(kind.__name__)
    hint = f" (a wrapper: convert its {hint})" if hint else ""
    names = sorted({k.__qualname__ for k in table})
    raise TypeError(
        f"{where}: attnlab does not convert {kind.__module__}.{kind.__qualname__}"
        f"{hint}; it converts exactly these classes: {', '.join(names)}"
    )


def _untied(model: Any, where: str) -> None:
    """ValueError when a GPT's config ties lm_head.weight to wte.weight but they are two
    tensors: the counterpart, tied again, would hold only one of them."""
    if (
        isinstance(model, (GPT, tm.TorchGPT))
        and model.config.tie_weights
        and model.lm_head.weight is not model.wte.weight
    ):
        raise ValueError(
            f"{where}.lm_head.weight: a tensor of its own, but config.tie_weights "
            "says it is wte.weight (tie them again, or build with tie_weights=False)"
        )


def from_torch(module: Any) -> nn.Module:
    if not isinstance(module, tnn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    _builder(module, FROM_TORCH, "module")
    _untied(module, "module")
    layout = layers.torch_layout(module, "module")

    def build(m: Any, where: str) -> nn.Module:
        return _builder(m, FROM_TORCH, where)(m, where, to)

    to = layers.Target(float_dtype(module, "module"), True, build)
    ours = build(module, "module")
    carry(module, ours, "module")
    if layout is not None:
        ours.torch_batch_first = layout
    return ours


def to_torch(module: Any, *, batch_first: bool | None = None) -> tnn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an attnlab.nn.Module, got {type(module).__name__}")
    _builder(module, TO_TORCH, "module")
    _untied(module, "module")
    if batch_first is None:
        batch_first = getattr(module, "torch_batch_first", True)
    batch_first = flag(batch_first, "batch_first")
    dtypes = {p.dtype for p in module.parameters()}
    if len(dtypes) > 1:
        raise TypeError(
            f"module: mixes dtypes {sorted(map(str, dtypes))}; convert it with "
            ".float() or .double() first"
        )

    def build(m: Any, where: str) -> tnn.Module:
        return _builder(m, TO_TORCH, where)(m, where, to)

    to = layers.Target(
        torch.float64 if np.dtype(np.float64) in dtypes else torch.float32, batch_first, build
    )
    theirs = build(module, "module")
    carry(module, theirs, "module")
    return theirs
