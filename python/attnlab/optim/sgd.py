"""SGD with momentum, dampening, Nesterov momentum and weight decay (torch.optim.SGD)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from attnlab import _core
from attnlab._validation import flag, real_number
from attnlab.optim.optimizer import Optimizer, nonnegative


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's arguments, defaults and update.

    With g the gradient (negated when ``maximize``) plus ``weight_decay * p``: when momentum is
    not 0, ``buf = g`` on a parameter's first step, then ``buf = momentum * buf +
    (1 - dampening) * g``, and ``g`` becomes ``buf`` (or ``g + momentum * buf`` with
    ``nesterov``); then ``p -= lr * g``. The state of a parameter is ``{"momentum_buffer"}``
    (only when momentum is not 0). Each group's parameters are updated in one C++ call.
    """

    _state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        self._check_group(dict(defaults))
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            group[name] = nonnegative(group[name], name)
        group["dampening"] = real_number(group["dampening"], "dampening")
        for name in ("nesterov", "maximize"):
            group[name] = flag(group[name], name)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "nesterov: Nesterov momentum needs momentum > 0 and dampening 0, "
                f"got momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a grad."""
        loss = closure() if closure is not None else None
        for gi, group in enumerate(self.param_groups):
            params, data, grads = self._with_grads(gi)
            buffers, fresh = [], []
            if group["momentum"] != 0:
                for p, d in zip(params, data):
                    buf = self.state[p].get("momentum_buffer") if p in self.state else None
                    fresh.append(buf is None)
                    buffers.append(np.empty_like(d) if buf is None else buf)
            _core.sgd_step(
                data,
                grads,
                buffers,
                fresh,
                lr=group["lr"],
                momentum=group["momentum"],
                dampening=group["dampening"],
                weight_decay=group["weight_decay"],
                nesterov=group["nesterov"],
                maximize=group["maximize"],
            )
            for p, buf in zip(params, buffers):  # new buffers count once the step has run
                self.state[p]["momentum_buffer"] = buf
        return loss
