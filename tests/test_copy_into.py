"""_core.copy_into and _memory.copy_into / contiguous: the pool's strided copy behind the head
splits and merges of multi-head attention equals NumPy's on every layout, and refuses what it
cannot copy."""

import numpy as np
import pytest

from attnlab import _core, _memory


def views(rng, dtype):
    """name -> a non-contiguous view whose last axis is contiguous."""
    packed = (rng.standard_normal((9, 33, 3 * 4 * 17)) * 100).astype(dtype)
    heads = rng.standard_normal((9, 4, 33, 16)).astype(dtype)
    large = rng.standard_normal((67, 8, 31, 16)).astype(dtype)  # 16616 rows: many pool tasks
    return {
        "large heads merged": large.transpose(0, 2, 1, 3),
        "q of a packed projection": packed[..., :68].reshape(9, 33, 4, 17).transpose(0, 2, 1, 3),
        "heads merged": heads.transpose(0, 2, 1, 3),
        "reversed rows": heads[:, ::-1, ::-2],
        "width one": heads[..., :1].transpose(2, 1, 0, 3),
        "2-d slice": packed.reshape(-1, packed.shape[-1])[:, 5:70],
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.complex64])
def test_equals_numpy_on_every_layout(rng, dtype):
    for name, src in views(rng, dtype).items():
        dst = np.full(src.shape, 7, dtype)
        _core.copy_into(dst, src)
        np.testing.assert_array_equal(dst, src, err_msg=name)
        out = _memory.contiguous(src)
        assert out.flags.c_contiguous and out.dtype == src.dtype, name
        np.testing.assert_array_equal(out, src, err_msg=name)


def test_writes_into_a_strided_destination_only_where_it_points(rng):
    """The backward of packed attention: dq into the q columns of a packed gradient."""
    grad = np.zeros((9, 33, 3 * 64), np.float32)
    dq = rng.standard_normal((9, 4, 33, 16)).astype(np.float32)
    block = grad[..., :64].reshape(9, 33, 4, 16).transpose(0, 2, 1, 3)
    _core.copy_into(block, dq)
    np.testing.assert_array_equal(block, dq)
    assert not grad[..., 64:].any()


def test_empty_and_zero_dimensional():
    _core.copy_into(np.empty((0, 5)), np.empty((5, 0)).T)
    dst = np.zeros(())
    _core.copy_into(dst, np.array(2.5))
    assert dst == 2.5


@pytest.mark.parametrize(
    "dst,src,error,message",
    [
        (
            np.zeros((4, 3)),
            np.zeros((3, 4)),
            ValueError,
            r"src: expected shape \(4, 3\), got \(3, 4\)",
        ),
        (
            np.zeros((4, 3)),
            np.zeros((4, 3), np.float32),
            ValueError,
            "src: dtype float32 does not match dst's float64",
        ),
        (np.zeros((4, 3)), np.zeros((3, 4)).T, ValueError, "src: the last axis must be contiguous"),
        (np.zeros((3, 4)).T, np.zeros((4, 3)), ValueError, "dst: the last axis must be contiguous"),
        (
            np.zeros((4, 3), object),
            np.zeros((4, 3), object),
            TypeError,
            "dst: object arrays hold references",
        ),
    ],
)
def test_errors(dst, src, error, message):
    with pytest.raises(error, match=message):
        _core.copy_into(dst, src)


def test_read_only_destination_is_refused():
    dst = np.zeros((4, 3))
    dst.flags.writeable = False
    with pytest.raises(ValueError, match="dst: the array is read-only"):
        _core.copy_into(dst, np.ones((4, 3)))
