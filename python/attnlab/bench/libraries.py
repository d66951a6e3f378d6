"""attnlab's call right after another library's (NumPy's BLAS, torch), whose threads still
spin on the cores, beside its steady state: in back-to-back calls, and in single calls
alternating with the other library's, as a notebook comparing the two or a model mixing them
through interop makes them."""

from __future__ import annotations

import numpy as np

import attnlab as al
from attnlab.bench.attention import attention_inputs, small_shape
from attnlab.bench.timing import Row

F = al.functional


def after_impl(library: str) -> str:
    """The name of attnlab's implementation timed right after ``library``'s call."""
    return f"attnlab after {library}"


def after_rows(quick: bool, torch) -> list[Row]:
    """The small forward right after a NumPy matmul (OpenBLAS) and a torch SDPA call, whose
    idle threads keep spinning on the cores, beside the same call in the steady state; then the
    same in single calls, each timed on its own (``Row.single_calls``)."""
    shape = small_shape(quick)
    q, k, v = attention_inputs(shape)
    a = np.random.default_rng(3).standard_normal((512, 512), dtype=np.float32)
    spinners = {"numpy matmul": lambda: a @ a}
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        spinners["torch sdpa"] = lambda: torch.nn.functional.scaled_dot_product_attention(
            tq, tk, tv
        )
    b, h, l, d = shape

    def call():
        return F.scaled_dot_product_attention(q, k, v)

    settings = {"right after": False, "in single calls alternating with": True}
    return [
        Row(
            f"forward {shape} {setting} {library}",
            4 * b * h * l * l * d,
            {"attnlab": call, after_impl(library): call},
            f"{after_impl(library)} <= 1.3x attnlab (steady state)",
            before={after_impl(library): spin},
            single_calls=single_calls,
        )
        for setting, single_calls in settings.items()
        for library, spin in spinners.items()
    ]
