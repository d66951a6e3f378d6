"""Parameter: a Tensor that a Module registers as one of its learnable weights."""

from __future__ import annotations

import numpy as np

from attnlab.tensor import FLOAT_DTYPES, Tensor


class Parameter(Tensor):
    """A float32/float64 leaf Tensor that requires grad by default.

    Its ``.data`` is C-contiguous (a non-contiguous array is copied once, explicitly), so
    optimizers update it in place and every holder sees the change.
    """

    __slots__ = ()

    def __init__(self, data: np.ndarray | Tensor, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not isinstance(data, np.ndarray) or data.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"data: a Parameter holds a float32 or float64 ndarray, got "
                f"{getattr(data, 'dtype', type(data).__name__)}"
            )
        super().__init__(np.ascontiguousarray(data), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
