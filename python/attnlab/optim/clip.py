"""clip_grad_norm_: rescales gradients in place so that their total norm is at most max_norm."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from attnlab._validation import FLOAT_DTYPES, flag, real_number


def _norm(g: np.ndarray, p: float) -> float:
    """The p-norm of ``g``, accumulated in float64 without a float64 copy of ``g``."""
    flat = g.reshape(-1)
    if p == math.inf:
        return float(np.max(np.abs(flat))) if flat.size else 0.0
    if p == 2:
        return math.sqrt(np.einsum("i,i->", flat, flat, dtype=np.float64))
    return float(np.sum(np.abs(flat, dtype=np.float64) ** p)) ** (1 / p)


def clip_grad_norm_(
    parameters: Any | Iterable[Any],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> np.floating:
    """Scales the ``.grad`` of every parameter in place by ``max_norm / (total + 1e-6)`` when
    that is below 1, ``total`` being the ``norm_type``-norm of all the grads together (as if
    concatenated; ``inf`` = the largest magnitude). Parameters whose grad is None are skipped.

    As torch.nn.utils.clip_grad_norm_, returns the total norm before clipping: a NumPy scalar
    of the grads' dtype (float32 when there is none). Norms are accumulated in float64.
    ``error_if_nonfinite``: raise a RuntimeError instead when the total is NaN or infinite.
    """
    if hasattr(parameters, "data") and hasattr(parameters, "grad"):
        parameters = [parameters]
    elif isinstance(parameters, np.ndarray) or not isinstance(parameters, Iterable):
        raise TypeError(
            "parameters: expected a parameter or an iterable of parameters, got "
            f"{type(parameters).__name__}"
        )
    max_norm = real_number(max_norm, "max_norm")
    try:
        norm_type = float(norm_type)
    except (TypeError, ValueError):
        raise TypeError(f"norm_type: expected a number or 'inf', got {norm_type!r}") from None
    if not norm_type > 0:
        raise ValueError(f"norm_type: expected a number > 0 or inf, got {norm_type}")
    error_if_nonfinite = flag(error_if_nonfinite, "error_if_nonfinite")
    grads = []
    for i, p in enumerate(parameters):
        if not (hasattr(p, "data") and hasattr(p, "grad")):
            raise TypeError(
                f"parameters[{i}]: expected a parameter (with .data and .grad), got "
                f"{type(p).__name__}"
            )
        g = p.grad
        if g is None:
            continue
        if not isinstance(g, np.ndarray) or g.dtype not in FLOAT_DTYPES:
            got = g.dtype if isinstance(g, np.ndarray) else type(g).__name__
            raise TypeError(f"parameters[{i}].grad: expected a float32 or float64 array, got {got}")
        if not g.flags.writeable:
            raise ValueError(
                f"parameters[{i}].grad: array is read-only (clipping scales it in place)"
            )
        grads.append(g)
    dtype = grads[0].dtype if grads else np.dtype(np.float32)
    if not grads:
        return dtype.type(0.0)
    norms = [_norm(g, norm_type) for g in grads]
    total = (
        max(norms)
        if norm_type == math.inf
        else math.fsum(n**norm_type for n in norms) ** (1 / norm_type)
    )
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` "
            "is non-finite, so it cannot be clipped. To disable this error and "
            "scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1 or math.isnan(coef):
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in torch
            for g in grads:
                g *= g.dtype.type(coef)
    return dtype.type(total)
