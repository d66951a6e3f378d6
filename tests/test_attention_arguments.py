"""Bad arguments to the attention functions get a clear TypeError/ValueError naming them."""

import numpy as np
import pytest

import attnlab as al

F = al.functional
SDPA = F.scaled_dot_product_attention
BACKWARD = F.scaled_dot_product_attention_backward


@pytest.fixture
def qkv(rng):
    return tuple(rng.standard_normal((2, 4, 5, 8)).astype(np.float32) for _ in range(3))


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex64, object, np.bool_])
def test_item_01_non_float_q_is_a_type_error(qkv, dtype):
    q, k, v = qkv
    with pytest.raises(TypeError, match=r"q: expected dtype float32 or float64, got"):
        SDPA(q.astype(dtype), k, v)


@pytest.mark.parametrize("which", [1, 2])
def test_item_02_mixed_dtypes_are_a_type_error_not_a_cast(qkv, which):
    args = list(qkv)
    args[which] = args[which].astype(np.float64)
    name = "kv"[which - 1]
    with pytest.raises(TypeError, match=rf"{name}: dtype float64 does not match q's dtype float32"):
        SDPA(*args)


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda a: a.tolist(), "list"),
        (lambda a: 1.0, "float"),
        (lambda a: np.ma.masked_array(a), "MaskedArray"),
    ],
)
def test_item_07_non_arrays_are_a_type_error(qkv, make, kind):
    q, k, v = qkv
    with pytest.raises(
        TypeError, match=rf"q: expected a NumPy array of float32 or float64, got {kind}"
    ):
        SDPA(make(q), k, v)


def test_item_03_wrong_ndim(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match=r"q: expected 2 to 4 dimensions .* got 5 with shape"):
        SDPA(q[None], k, v)
    with pytest.raises(ValueError, match=r"q: expected 2 to 4 dimensions .* got 1"):
        SDPA(q[0, 0, 0], k, v)
    with pytest.raises(ValueError, match=r"k: expected 4 dimensions like q"):
        SDPA(q, k[0], v)


def test_item_03_mismatched_sizes_name_argument_axis_expected_and_actual(qkv, rng):
    q, k, v = qkv
    with pytest.raises(ValueError, match=r"k: axis -1 \(D, must match q\) has size 7, expected 8"):
        SDPA(q, k[..., :7], v)
    with pytest.raises(ValueError, match=r"k: axis 0 \(B, must match q\) has size 1, expected 2"):
        SDPA(q, k[:1], v[:1])
    with pytest.raises(ValueError, match=r"v: axis -2 \(Lk, must match k\) has size 4, expected 5"):
        SDPA(q, k, v[:, :, :4])
    with pytest.raises(ValueError, match=r"v: axis 1 \(H, must match k\) has size 2, expected 4"):
        SDPA(q, k, v[:, :2])
    with pytest.raises(
        ValueError, match=r"k: axis 1 \(H\) has size 3, which must divide q's 4 heads"
    ):
        SDPA(q, k[:, :3], v[:, :3])


def test_item_05_mask_must_be_bool(qkv):
    q, k, v = qkv
    for bad in (np.ones((5, 5), np.uint8), np.ones((5, 5), np.int64), np.zeros((5, 5), np.float32)):
        with pytest.raises(
            TypeError, match=r"mask: expected dtype bool, got .*pass additive float masks as bias="
        ):
            SDPA(q, k, v, mask=bad)


def test_item_04_mask_and_bias_must_broadcast(qkv):
    q, k, v = qkv
    with pytest.raises(
        ValueError, match=r"mask: shape \(3, 5\) is not broadcastable to \(2, 4, 5, 5\)"
    ):
        SDPA(q, k, v, mask=np.ones((3, 5), bool))
    with pytest.raises(ValueError, match=r"bias: shape \(4, 4\) is not broadcastable"):
        SDPA(q, k, v, bias=np.ones((4, 4), np.float32))


def test_item_02_bias_dtype_must_match(qkv):
    q, k, v = qkv
    with pytest.raises(TypeError, match=r"bias: dtype float64 does not match q's dtype float32"):
        SDPA(q, k, v, bias=np.zeros((5, 5)))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(causal_alignment="diagonal"), ValueError, r"causal_alignment: expected one of"),
        (dict(is_causal=1), TypeError, r"is_causal: expected a bool, got int"),
        (dict(window=(-1, 2)), ValueError, r"window: left must be >= 0 or None, got -1"),
        (dict(window=(1, -3)), ValueError, r"window: right must be >= 0 or None, got -3"),
        (dict(window=3), TypeError, r"window: expected a \(left, right\) pair"),
        (dict(window=(1, 2, 3)), TypeError, r"window: expected a \(left, right\) pair"),
        (dict(window=(1.5, 2)), TypeError, r"window\[left\]: expected an int, got float"),
        (dict(scale="1"), TypeError, r"scale: expected a real number, got str"),
        (dict(dropout_p=0.1, seed=-1), ValueError, r"seed: expected an int in \[0, 2\*\*64\)"),
        (dict(dropout_p=0.1, seed=2**64), ValueError, r"seed: expected an int in \[0, 2\*\*64\)"),
        (dict(dropout_p=0.1, seed=1.0), TypeError, r"seed: expected an int, got float"),
        (dict(return_weights="yes"), TypeError, r"return_weights: expected a bool, got str"),
    ],
)
def test_bad_options(qkv, kwargs, error, message):
    with pytest.raises(error, match=message):
        SDPA(*qkv, **kwargs)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -float("inf")])
def test_item_24_nonfinite_scale_is_a_value_error(qkv, scale):
    with pytest.raises(ValueError, match=rf"scale: expected a finite number, got {scale}"):
        SDPA(*qkv, scale=scale)
    with pytest.raises(ValueError, match=rf"scale: expected a finite number, got {scale}"):
        BACKWARD(np.ones_like(qkv[0]), *qkv, scale=scale)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan")])
def test_item_25_dropout_p_outside_0_1_is_a_value_error(qkv, p):
    message = "a finite number, got nan" if p != p else rf"0 <= dropout_p < 1, got {p}"
    with pytest.raises(ValueError, match=rf"dropout_p: expected {message}"):
        SDPA(*qkv, dropout_p=p, seed=1)
    with pytest.raises(ValueError, match=rf"dropout_p: expected {message}"):
        BACKWARD(np.ones_like(qkv[0]), *qkv, dropout_p=p, seed=1)


def test_options_are_keyword_only(qkv):
    mask = np.ones((5, 5), bool)
    with pytest.raises(TypeError):
        SDPA(*qkv, mask, None, True)


def test_backward_checks_grad_out_and_needs_the_seed_with_dropout(qkv):
    q, k, v = qkv
    g = np.ones_like(q)
    with pytest.raises(
        ValueError,
        match=r"grad_out: expected the output's shape \(2, 4, 5, 8\), got \(2, 4, 5, 7\)",
    ):
        BACKWARD(g[..., :7], q, k, v)
    with pytest.raises(
        TypeError, match=r"grad_out: dtype float64 does not match q's dtype float32"
    ):
        BACKWARD(g.astype(np.float64), q, k, v)
    with pytest.raises(ValueError, match=r"seed: pass the forward's seed to the backward"):
        BACKWARD(g, q, k, v, dropout_p=0.2)


def test_errors_leave_inputs_untouched(qkv):
    q, k, v = qkv
    before = [x.copy() for x in qkv]
    with pytest.raises(ValueError):
        SDPA(q, k, v, mask=np.ones((3, 5), bool))
    for x, y in zip(qkv, before):
        np.testing.assert_array_equal(x, y)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_item_07_np_matrix_is_a_type_error():
    m = np.asmatrix(np.ones((3, 4)))
    with pytest.raises(
        TypeError, match="q: expected a NumPy array of float32 or float64, got matrix"
    ):
        SDPA(m, m, m)


def test_backward_checks_the_saved_forward(qkv):
    q, k, v = qkv
    g = np.ones_like(q)
    out, stats = SDPA(q, k, v, return_stats=True)
    with pytest.raises(ValueError, match=r"out, stats: pass both"):
        BACKWARD(g, q, k, v, out=out)
    with pytest.raises(ValueError, match=r"out, stats: pass both"):
        BACKWARD(g, q, k, v, stats=stats)
    with pytest.raises(TypeError, match=r"stats: expected the AttentionStats of the forward"):
        BACKWARD(g, q, k, v, out=out, stats=tuple(stats))
    with pytest.raises(
        ValueError, match=r"out: expected the output's shape \(2, 4, 5, 8\), got \(2, 4, 4, 8\)"
    ):
        BACKWARD(g, q, k, v, out=out[:, :, :4], stats=stats)
    with pytest.raises(TypeError, match=r"out: dtype float64 does not match q's dtype float32"):
        BACKWARD(g, q, k, v, out=out.astype(np.float64), stats=stats)
    bad = F.AttentionStats(stats.row_max_base2[..., :4], stats.row_inv)
    with pytest.raises(
        ValueError, match=r"stats.row_max_base2: expected shape \(2, 4, 5\), got \(2, 4, 4\)"
    ):
        BACKWARD(g, q, k, v, out=out, stats=bad)
    bad = F.AttentionStats(stats.row_max_base2, stats.row_inv.astype(np.float64))
    with pytest.raises(TypeError, match=r"stats.row_inv: dtype float64 does not match q's dtype"):
        BACKWARD(g, q, k, v, out=out, stats=bad)
    with pytest.raises(TypeError, match=r"return_stats: expected a bool, got int"):
        SDPA(q, k, v, return_stats=1)


def test_saved_forward_accepts_strided_views(qkv):
    """Non-contiguous out and stats are read, not rejected, and give the same gradients."""
    q, k, v = qkv
    g = np.ones_like(q)
    out, stats = SDPA(q, k, v, return_stats=True)
    out_f = np.asfortranarray(out)
    stats_f = F.AttentionStats(*(np.asfortranarray(x) for x in stats))
    for a, b in zip(
        BACKWARD(g, q, k, v, out=out_f, stats=stats_f), BACKWARD(g, q, k, v, out=out, stats=stats)
    ):
        np.testing.assert_array_equal(a, b)
