"""Gradients checked against float64 central finite differences (torch.autograd.gradcheck's
defaults: eps=1e-6, atol=1e-5, rtol=1e-3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from attnlab.autograd.grad_mode import enable_grad, no_grad
from attnlab.tensor import Tensor


class GradcheckError(RuntimeError):
    """Analytical and numerical gradients differ."""


def _outputs(result) -> list[Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    tensors = [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]
    if not tensors:
        raise TypeError("fn: expected it to return a float Tensor or a tuple holding some")
    return tensors


def gradcheck(
    fn: Callable[..., Tensor | Sequence[Tensor]],
    inputs: Sequence[Tensor] | Tensor,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Checks ``fn``'s backward against finite differences at ``inputs``.

    For random weights ``u`` on the outputs, it compares d(sum u * fn(inputs)) / d input, from
    one backward, with the central difference of the same sum, element by element, for every
    input that requires grad. Inputs that require grad must be float64.

    Returns True, or raises :class:`GradcheckError` naming the input and the worst element
    (returns False instead with ``raise_exception=False``).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("inputs: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"inputs[{i}]: finite differences need float64, got {inputs[i].dtype}")
    rng = np.random.default_rng(seed)
    with no_grad():
        weights = [rng.standard_normal(o.shape) for o in _outputs(fn(*inputs))]

    def objective() -> float:
        with no_grad():
            return float(sum((o.data * u).sum() for o, u in zip(_outputs(fn(*inputs)), weights)))

    saved = [inputs[i].grad for i in checked]
    for i in checked:
        inputs[i].grad = None
    with enable_grad():
        outs = _outputs(fn(*inputs))
        total = None
        for o, u in zip(outs, weights):
            if not o.requires_grad:
                continue
            term = (o * Tensor(u.astype(o.dtype))).sum()
            total = term if total is None else total + term
        if total is not None:
            total.backward()
    analytical = [
        np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad for i in checked
    ]
    for i, g in zip(checked, saved):
        inputs[i].grad = g

    for i, grad in zip(checked, analytical):
        x = inputs[i].data
        if not x.flags.writeable:
            raise ValueError(f"inputs[{i}]: must be writeable, to be perturbed in place")
        numerical = np.empty(x.shape)
        for j in np.ndindex(x.shape):
            keep = x[j]
            x[j] = keep + eps
            up = objective()
            x[j] = keep - eps
            down = objective()
            x[j] = keep
            numerical[j] = (up - down) / (2 * eps)
        bad = ~np.isclose(grad, numerical, rtol=rtol, atol=atol)
        if bad.any():
            j = np.unravel_index(np.argmax(np.abs(grad - numerical) * bad), x.shape)
            message = (
                f"gradcheck: inputs[{i}] {x.shape}: {int(bad.sum())} of {x.size} gradients differ; "
                f"worst at {tuple(int(n) for n in j)}: analytical {grad[j]:.8g}, numerical "
                f"{numerical[j]:.8g} (atol={atol}, rtol={rtol})"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
