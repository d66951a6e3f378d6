"""Adam and AdamW (torch.optim.Adam and torch.optim.AdamW), amsgrad included."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from attnlab import _core
from attnlab._validation import flag, real_number
from attnlab.optim.optimizer import Optimizer, nonnegative


class Adam(Optimizer):
    """Adam, torch.optim.Adam's arguments, defaults and update (its single-tensor CPU path).

    Per parameter, with g the gradient (negated when ``maximize``; plus ``weight_decay * p``
    unless ``decoupled_weight_decay``, which instead scales p by ``1 - lr * weight_decay``, as
    AdamW) and t the parameter's step count::

        m = m + (1 - beta1) * (g - m);   v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) with amsgrad, else v
        p -= lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    A parameter's state is ``{"step": int, "exp_avg", "exp_avg_sq"}`` (and ``"max_exp_avg_sq"``
    with amsgrad), created at its first step. Each group's parameters are updated in one C++
    call.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _optional_state_keys = ("max_exp_avg_sq",)

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        self._check_group(dict(defaults))
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        for name in ("lr", "eps", "weight_decay"):
            group[name] = nonnegative(group[name], name)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas: expected a pair of numbers, got {betas!r}")
        for i, beta in enumerate(betas):
            beta = real_number(beta, f"betas[{i}]")
            if not 0 <= beta < 1:
                raise ValueError(f"betas[{i}]: expected a number in [0, 1), got {beta}")
        group["betas"] = (float(betas[0]), float(betas[1]))
        for name in ("amsgrad", "maximize", "decoupled_weight_decay"):
            group[name] = flag(group[name], name)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a grad."""
        loss = closure() if closure is not None else None
        for gi, group in enumerate(self.param_groups):
            params, data, grads = self._with_grads(gi)
            amsgrad = group["amsgrad"]
            states = []
            for p, d in zip(params, data):
                state = self.state[p] if p in self.state else {}
                new = (
                    {}
                    if state
                    else {"step": 0, "exp_avg": np.zeros_like(d), "exp_avg_sq": np.zeros_like(d)}
                )
                if amsgrad and "max_exp_avg_sq" not in state:
                    new["max_exp_avg_sq"] = np.zeros_like(d)
                states.append({**state, **new})
            steps = [s["step"] + 1 for s in states]
            beta1, beta2 = group["betas"]
            _core.adam_step(
                data,
                grads,
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [s["max_exp_avg_sq"] for s in states] if amsgrad else [],
                steps,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                decoupled_weight_decay=group["decoupled_weight_decay"],
                amsgrad=amsgrad,
                maximize=group["maximize"],
            )
            for p, state, step in zip(params, states, steps):  # counted once the step has run
                state["step"] = step
                self.state[p] = state
        return loss


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` each step),
    torch.optim.AdamW's arguments and defaults (``weight_decay=1e-2``)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        group["decoupled_weight_decay"] = True  # also in loaded state dicts, as torch's AdamW
