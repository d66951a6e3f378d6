"""Shared by the optimizer tests (tests/optim/): stand-in parameters and random gradients. A
module of tests/, not a conftest: pytest imports each test file by path, so ``from conftest
import`` would find tests/conftest.py.

``Param`` is the least a parameter can be (the optimizers duck-type): ``.data`` (updated in
place), ``.grad`` (an ndarray or None) and ``.requires_grad``; tests/optim/test_optimizer.py
also steps real ``attnlab.nn.Parameter``s.
"""

import numpy as np

# Shapes that hit SIMD tails (1, 3, 7, 33 * 5) and, with 2 * 16384 + 3 elements, the optimizer's
# chunk boundaries.
SHAPES = [(7,), (33, 5), (1,), (3, 1), (2 * 16384 + 3,)]


# (optimizer, options) covering every branch of the updates.
ADAM_OPTIONS = [
    ("Adam", dict()),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-3, maximize=True)),  # lerp weight 0.5
    ("Adam", dict(lr=1e-2, betas=(0.3, 0.99), weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.0, betas=(0.0, 0.5))),
    ("AdamW", dict(lr=1e-2, weight_decay=0.3, maximize=True, eps=1e-6)),
]

SGD_OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.5),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.9, weight_decay=0.01),
    dict(lr=0.1, weight_decay=0.01, maximize=True),
    dict(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=0.1, maximize=True),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True),
]


class Param:
    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = None
        self.requires_grad = True


def random_params(rng, shapes, dtype):
    return [Param(rng.standard_normal(shape).astype(dtype)) for shape in shapes]


def grads_of_step(rng, params, step, skip):
    """The gradients of one step: random, None where ``skip(step, position)`` says so."""
    grads = []
    for i, p in enumerate(params):
        g = rng.standard_normal(p.data.shape).astype(p.data.dtype)
        grads.append(None if skip(step, i) else g)
    return grads
