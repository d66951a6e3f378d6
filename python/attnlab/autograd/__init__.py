"""Reverse-mode automatic differentiation over attnlab Tensors.

``Function`` is one differentiable operation, ``no_grad`` / ``enable_grad`` switch recording,
``gradcheck`` compares a function's gradients with float64 finite differences.
"""

from attnlab.autograd.function import Function
from attnlab.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from attnlab.autograd.gradcheck import GradcheckError, gradcheck

__all__ = [
    "Function",
    "GradcheckError",
    "enable_grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
