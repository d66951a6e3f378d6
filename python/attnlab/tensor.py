"""attnlab.Tensor: one NumPy array plus what reverse-mode autograd needs.

``.data`` is the ndarray (float32/float64; integers for indices, bool for masks), ``.grad``
its gradient (an ndarray, accumulated with ``+=`` over backward calls, as in micrograd and
PyTorch), ``._ctx`` the Function that made it (None for a leaf). Arithmetic follows NumPy's
broadcasting and returns Tensors; the backward sums gradients over broadcast axes. Mixed float
dtypes are an error, never a silent cast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_dtype(data: np.ndarray, name: str) -> np.ndarray:
    kind = data.dtype.kind
    if data.dtype in FLOAT_DTYPES or kind in "iub":
        return data
    raise TypeError(
        f"{name}: expected float32, float64, integer or bool data, got dtype {data.dtype}"
    )


class Tensor:
    """An ndarray that records the operations made with it when it ``requires_grad``.

    Build one with :func:`attnlab.tensor`. Every :mod:`attnlab.functional` op takes Tensors
    and returns Tensors; ``loss.backward()`` fills ``.grad`` of the leaves that require grad.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, data: np.ndarray, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not isinstance(data, np.ndarray) or isinstance(data, (np.matrix, np.ma.MaskedArray)):
            raise TypeError(
                f"data: expected a NumPy array (use attnlab.tensor for lists and scalars), "
                f"got {type(data).__name__}"
            )
        _check_dtype(data, "data")
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad: expected a bool, got {type(requires_grad).__name__}")
        if requires_grad and data.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"requires_grad: only float32 and float64 tensors can require gradients, "
                f"got dtype {data.dtype}"
            )
        self.data = data
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._ctx = None
        self._retains_grad = False

    @staticmethod
    def _wrap(data: np.ndarray, requires_grad: bool) -> Tensor:
        """A Function's result: no checks (the kernels made it)."""
        t = Tensor.__new__(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = None
        t._retains_grad = False
        return t

    # ---- array facts -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for a Tensor no recorded operation made (its ``.grad`` is filled by backward)."""
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The data itself (shares memory, as ``torch.Tensor.numpy``)."""
        return self.data

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(
                "item: only a one-element tensor converts to a Python number, "
                f"got shape {self.shape}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory)."""
        return Tensor._wrap(self.data, False)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Sets ``requires_grad`` in place (leaves only) and returns self."""
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad: expected a bool, got {type(requires_grad).__name__}")
        if requires_grad and self.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"requires_grad: only float tensors can require gradients, got {self.dtype}"
            )
        if not requires_grad and not self.is_leaf:
            raise RuntimeError(
                "requires_grad_: only a leaf tensor's flag can be turned off; use detach()"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keeps ``.grad`` on this non-leaf tensor too after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retains_grad = True

    def backward(self, grad: np.ndarray | Tensor | None = None, retain_graph: bool = False) -> None:
        """Accumulates d self / d leaf into every leaf's ``.grad``.

        ``grad`` (self's shape) weighs the outputs; it may be omitted only for a one-element
        tensor. The graph's saved arrays are freed afterwards unless ``retain_graph=True``.
        """
        run_backward(self, grad, retain_graph)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self._ctx is not None:
            extra = f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        dtype = "" if self.dtype == np.float32 else f", dtype={self.dtype}"
        return f"tensor({body}{dtype}{extra})"

    __hash__ = object.__hash__

    # ---- arithmetic (NumPy broadcasting) ------------------------------------------------------
    def __add__(self, other):
        return ops.Add.apply(self, _operand(other, self))

    def __radd__(self, other):
        return ops.Add.apply(_operand(other, self), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, _operand(other, self))

    def __rsub__(self, other):
        return ops.Sub.apply(_operand(other, self), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, _operand(other, self))

    def __rmul__(self, other):
        return ops.Mul.apply(_operand(other, self), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, _operand(other, self))

    def __rtruediv__(self, other):
        return ops.Div.apply(_operand(other, self), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return ops.PowTensor.apply(self, _operand(exponent, self))
        return ops.Pow.apply(self, exponent=_scalar(exponent, "exponent"))

    def __rpow__(self, base):
        return ops.Exp.apply(self * float(np.log(_scalar(base, "base"))))

    def __matmul__(self, other):
        return functional.matmul(self, _operand(other, self, "other"))

    def __rmatmul__(self, other):
        return functional.matmul(_operand(other, self, "other"), self)

    # Comparisons give bool Tensors, which carry no gradient.
    def __lt__(self, other):
        return Tensor._wrap(self.data < _raw(other), False)

    def __le__(self, other):
        return Tensor._wrap(self.data <= _raw(other), False)

    def __gt__(self, other):
        return Tensor._wrap(self.data > _raw(other), False)

    def __ge__(self, other):
        return Tensor._wrap(self.data >= _raw(other), False)

    def __eq__(self, other):
        return Tensor._wrap(self.data == _raw(other), False)  # type: ignore[override]

    def __ne__(self, other):
        return Tensor._wrap(self.data != _raw(other), False)  # type: ignore[override]

    def __invert__(self):
        return Tensor._wrap(~self.data, False)

    def __and__(self, other):
        return Tensor._wrap(self.data & _raw(other), False)

    def __or__(self, other):
        return Tensor._wrap(self.data | _raw(other), False)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    # ---- elementwise functions -------------------------------------------------------------
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clamp: give min, max or both")
        low = None if min is None else _scalar(min, "min")
        high = None if max is None else _scalar(max, "max")
        return ops.Clamp.apply(self, low=low, high=high)

    def relu(self) -> Tensor:
        return functional.relu(self)

    def gelu(self, approximate: str = "none") -> Tensor:
        return functional.gelu(self, approximate=approximate)

    def silu(self) -> Tensor:
        return functional.silu(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return functional.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return functional.log_softmax(self, axis)

    def masked_fill(self, mask: np.ndarray | Tensor, value: float) -> Tensor:
        """``value`` where ``mask`` (bool, broadcastable to self) is True, self elsewhere."""
        mask = _raw(mask)
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(
                f"mask: expected a bool array or Tensor, got "
                f"{getattr(mask, 'dtype', type(mask).__name__)}"
            )
        return ops.MaskedFill.apply(self, mask=mask, value=_scalar(value, "value"))

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def to(self, dtype: Any) -> Tensor:
        """A copy in ``dtype`` (float32 or float64 keep the graph; gradients cast back)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype not in FLOAT_DTYPES:
            return Tensor(self.data.astype(dtype))
        return ops.Cast.apply(self, dtype=dtype)

    # ---- reductions -----------------------------------------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return ops.Sum.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return ops.Mean.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Largest values; the gradient is shared equally among tied maxima."""
        return ops.Max.apply(self, axis=_axes(axis, self.ndim), keepdims=keepdims)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return -((-self).max(axis, keepdims))

    def argmax(self, axis: int | None = None) -> Tensor:
        return Tensor._wrap(np.asarray(self.data.argmax(axis=axis)), False)

    # ---- shapes ---------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        shape = _shape_args(shape)
        return ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _axis(start_axis, self.ndim), _axis(end_axis, self.ndim)
        shape = self.shape[:start] + (-1,) + self.shape[end + 1 :]
        return self.reshape(shape)

    def unsqueeze(self, axis: int) -> Tensor:
        axis = _axis(axis, self.ndim + 1)
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def squeeze(self, axis: int | None = None) -> Tensor:
        if axis is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        axis = _axis(axis, self.ndim)
        if self.shape[axis] != 1:
            return self
        return self.reshape(self.shape[:axis] + self.shape[axis + 1 :])

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        axes = _shape_args(axes)
        if sorted(_axis(a, self.ndim) for a in axes) != list(range(self.ndim)):
            raise ValueError(f"axes: {axes} is not a permutation of the {self.ndim} axes")
        return ops.Permute.apply(self, axes=tuple(_axis(a, self.ndim) for a in axes))

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        """Swaps two axes (PyTorch's ``transpose(dim0, dim1)``); default the last two."""
        if self.ndim < 2:
            return self
        axes = list(range(self.ndim))
        a, b = _axis(axis0, self.ndim), _axis(axis1, self.ndim)
        axes[a], axes[b] = axes[b], axes[a]
        return ops.Permute.apply(self, axes=tuple(axes))

    swapaxes = transpose

    @property
    def T(self) -> Tensor:
        """All axes reversed, as ``ndarray.T``."""
        return ops.Permute.apply(self, axes=tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a batch of matrices transposed)."""
        return self.transpose(-2, -1)

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        """A broadcast to ``shape`` (NumPy's broadcast_to); the backward sums back."""
        return ops.BroadcastTo.apply(self, shape=_shape_args(shape))

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=_index(index))


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _operand(x: Any, like: Tensor, name: str = "other") -> Any:
    """A binary op's other side: a Tensor or ndarray of ``like``'s dtype, or a Python number.

    A scalar never changes a float tensor's dtype, as in PyTorch: a NumPy scalar becomes the
    Python number it holds, which NumPy (NEP 50) casts to the array's dtype, so that
    ``x * np.sqrt(d)`` stays float32. A 0-d ndarray is an array: its dtype must match.
    """
    if isinstance(x, Tensor):
        data = x.data
    elif isinstance(x, np.ndarray):
        data = x
    elif isinstance(x, (np.bool_, np.integer, np.floating)):  # before float: np.float64 is one
        return x.item()
    elif isinstance(x, (bool, int, float)):
        return x
    else:
        raise TypeError(
            f"{name}: expected a Tensor, an ndarray or a number, got {type(x).__name__}"
        )
    if data.dtype != like.dtype and (data.dtype in FLOAT_DTYPES or like.dtype in FLOAT_DTYPES):
        raise TypeError(
            f"{name}: dtype {data.dtype} does not match the tensor's {like.dtype} "
            "(attnlab never casts silently: use .float() or .double())"
        )
    return x


def _scalar(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(x).__name__}")
    return float(x)


def _axis(axis: Any, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"axis: {axis} is out of range for a tensor of {ndim} dimensions")
    return int(axis) % max(ndim, 1)


def _axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(_axis(a, ndim) for a in axis)
    return (_axis(axis, ndim),)


def _shape_args(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"shape: expected ints, got {type(n).__name__}")
    return tuple(int(n) for n in shape)


def _index(index: Any) -> Any:
    """An index with Tensors replaced by their arrays (an index carries no gradient)."""
    if isinstance(index, tuple):
        return tuple(_raw(i) for i in index)
    return _raw(index)


def tensor(data: Any, *, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A Tensor holding a copy of ``data`` (an ndarray, a list or a number), as ``torch.tensor``.

    Python floats become float32 (PyTorch's default), Python ints int64; an ndarray or NumPy
    scalar keeps its dtype unless ``dtype`` is given (an explicit cast). ``al.from_numpy`` shares
    memory instead.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data, dtype=dtype, copy=True)
    else:
        array = np.array(data, dtype=dtype)
        if dtype is None and array.dtype == np.float64:
            array = array.astype(np.float32)
    return Tensor(_check_dtype(array, "data"), requires_grad=requires_grad)


def from_numpy(array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
    """A Tensor over ``array`` itself (no copy): writes to one show in the other."""
    return Tensor(array, requires_grad=requires_grad)


def cat(tensors: Iterable[Tensor], axis: int = 0) -> Tensor:
    """Joins tensors along an existing axis (``np.concatenate``)."""
    tensors = _tensor_list(tensors, "tensors")
    return ops.Cat.apply(*tensors, axis=_axis(axis, tensors[0].ndim))


def stack(tensors: Iterable[Tensor], axis: int = 0) -> Tensor:
    """Joins tensors along a new axis (``np.stack``)."""
    tensors = _tensor_list(tensors, "tensors")
    return ops.Stack.apply(*tensors, axis=_axis(axis, tensors[0].ndim + 1))


def where(condition: np.ndarray | Tensor, x: Any, y: Any) -> Tensor:
    """x where ``condition`` (bool) is True, else y, broadcasting all three."""
    cond = _raw(condition)
    if not isinstance(cond, np.ndarray) or cond.dtype != np.bool_:
        raise TypeError(
            f"condition: expected a bool array or Tensor, got "
            f"{getattr(cond, 'dtype', type(cond).__name__)}"
        )
    like = x if isinstance(x, Tensor) else y
    if not isinstance(like, Tensor):
        raise TypeError("where: x or y must be a Tensor (use np.where for arrays)")
    return ops.Where.apply(_operand(x, like, "x"), _operand(y, like, "y"), condition=cond)


def _tensor_list(tensors: Iterable[Tensor], name: str) -> list[Tensor]:
    tensors = [t if isinstance(t, Tensor) else None for t in tensors]
    if not tensors:
        raise ValueError(f"{name}: expected at least one tensor")
    if any(t is None for t in tensors):
        raise TypeError(f"{name}: expected a sequence of Tensors")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"{name}: mixed dtypes {sorted(map(str, dtypes))}")
    return tensors


# The graph's Functions and the engine use Tensor; they are imported once it exists.
from attnlab import functional  # noqa: E402
from attnlab.autograd import ops  # noqa: E402
from attnlab.autograd.engine import run_backward  # noqa: E402
