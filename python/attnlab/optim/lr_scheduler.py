"""Learning-rate schedules: LambdaLR (torch's), WarmupCosine and Noam.

As torch.optim.lr_scheduler: constructing a schedule sets every group's ``lr`` to its value
at step 0 (and records the group's ``initial_lr``); each ``step()``, called after
``optimizer.step()``, moves to the next step and sets the ``lr``s for it.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from typing import Any

from attnlab._validation import index, positive
from attnlab.optim.optimizer import Optimizer, nonnegative


def _checked_optimizer(optimizer: object) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer: expected an attnlab.optim optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


class LRScheduler:
    """Base class: step(), get_last_lr(), state_dict()/load_state_dict(), as torch's.

    Subclasses define ``lr_at(group, base_lr, step)``: the lr of param group ``group`` (with
    initial lr ``base_lr``) at ``step`` (0 at construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _checked_optimizer(optimizer)
        last_epoch = index(last_epoch, "last_epoch")
        if last_epoch < -1:
            raise ValueError(
                f"last_epoch: expected -1 (a new schedule) or a step >= 0, got {last_epoch}"
            )
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(
                    f"last_epoch: resuming at {last_epoch} needs 'initial_lr' in "
                    f"param_groups[{i}] (load the optimizer's state dict first)"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def lr_at(self, group: int, base_lr: float, step: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The lrs of the current step (``last_epoch``), one per param group."""
        return [self.lr_at(i, base, self.last_epoch) for i, base in enumerate(self.base_lrs)]

    def step(self) -> None:
        """Moves to the next step and sets every group's lr for it."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs the last ``step()`` (or the constructor) set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as torch."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores a :meth:`state_dict`; ValueError naming a missing or unexpected key."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        expected = set(self.state_dict())
        for key in sorted(expected - set(state_dict)):
            raise ValueError(f"state_dict: missing key {key!r}")
        for key in sorted(set(state_dict) - expected, key=str):
            raise ValueError(f"state_dict: unexpected key {key!r}")
        groups = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != groups:
            raise ValueError(
                f"state_dict['base_lrs']: has {len(state_dict['base_lrs'])} lrs, "
                f"the optimizer has {groups} param groups"
            )
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(step), one function for every group or one per group, as
    torch.optim.lr_scheduler.LambdaLR. Plain functions are not saved in the state dict (as
    torch); callable objects have their ``__dict__`` saved."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        groups = len(_checked_optimizer(optimizer).param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ValueError(
                f"lr_lambda: expected {groups} functions (one per param group), got {len(lambdas)}"
            )
        for i, fn in enumerate(lambdas):
            if not callable(fn):
                raise TypeError(
                    f"lr_lambda: expected a function of the step, got "
                    f"{type(fn).__name__} (group {i})"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def lr_at(self, group: int, base_lr: float, step: int) -> float:
        return base_lr * self.lr_lambdas[group](step)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        state = dict(state_dict)
        saved = state.get("lr_lambdas", [])
        if len(saved) != len(self.lr_lambdas):
            raise ValueError(
                f"state_dict['lr_lambdas']: has {len(saved)} entries, expected "
                f"{len(self.lr_lambdas)}"
            )
        lambdas = self.lr_lambdas
        super().load_state_dict(state)
        self.lr_lambdas = lambdas
        for fn, attrs in zip(lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class WarmupCosine(LRScheduler):
    """Linear warm-up, then cosine decay to ``min_lr``, per group (HF's
    ``get_cosine_schedule_with_warmup`` shape, with a floor)::

        step < warmup_steps:   lr = initial_lr * step / warmup_steps
        otherwise:             lr = min_lr + (initial_lr - min_lr) * (1 + cos(pi * t)) / 2,
                               t = min(1, (step - warmup_steps) / (total_steps - warmup_steps))

    ``min_lr`` is an absolute lr (as torch's CosineAnnealingLR ``eta_min``), the same for
    every group; it stays there after ``total_steps``. The first step (0) of a warm-up has lr 0.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.warmup_steps = index(warmup_steps, "warmup_steps")
        self.total_steps = index(total_steps, "total_steps")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: expected an int >= 0, got {self.warmup_steps}")
        if self.total_steps <= self.warmup_steps:
            raise ValueError(
                f"total_steps: expected more than warmup_steps "
                f"({self.warmup_steps}), got {self.total_steps}"
            )
        self.min_lr = nonnegative(min_lr, "min_lr")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, group: int, base_lr: float, step: int) -> float:
        if step < self.warmup_steps:
            return base_lr * step / self.warmup_steps
        t = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


class Noam(LRScheduler):
    """The schedule of "Attention is all you need" (section 5.3), the same lr for every group::

        lr = factor * d_model**-0.5 * min(s**-0.5, s * warmup_steps**-1.5),  s = step + 1

    (so the constructor sets the lr of the first optimizer step, s = 1): a linear rise for
    ``warmup_steps`` steps, then decay as 1 / sqrt(s). The groups' own lrs are not used.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        d_model: int,
        warmup_steps: int,
        factor: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.d_model = index(d_model, "d_model")
        self.warmup_steps = index(warmup_steps, "warmup_steps")
        for name in ("d_model", "warmup_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected an int > 0, got {getattr(self, name)}")
        self.factor = positive(factor, "factor")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, group: int, base_lr: float, step: int) -> float:
        s = step + 1
        return self.factor * self.d_model**-0.5 * min(s**-0.5, s * self.warmup_steps**-1.5)


__all__ = ["LRScheduler", "LambdaLR", "Noam", "WarmupCosine"]
