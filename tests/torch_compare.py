"""Helpers of the tests that run an attnlab module next to its torch.nn counterpart."""

import numpy as np


def to_numpy(sd):
    """A torch state_dict as the NumPy arrays attnlab's load_state_dict takes."""
    return {k: v.detach().numpy().copy() for k, v in sd.items()}


def randomize(torch, module, scale=0.5):
    """Random parameters (non-zero biases), so that every gradient and layout is checked."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)


def assert_backward_matches(torch, rng, ours, theirs, out, ref, xs, ts):
    """Backward of the same random gradient (the output's dtype) through both: every
    parameter's gradient (torch's names) and every input's within 1e-4."""
    g = rng.standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    ref.backward(torch.tensor(g))
    grads = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(
            grads[name].grad, p.grad.numpy(), atol=1e-4, rtol=1e-4, err_msg=name
        )
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=1e-4, rtol=1e-4)


def same_state(a, b):
    """Two torch modules hold the same names, dtypes and bits."""
    same_arrays(to_numpy(a.state_dict()), to_numpy(b.state_dict()))


def same_arrays(a, b):
    """Two name -> ndarray dicts hold the same names, dtypes and bits."""
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


def close(ours, theirs, atol=1e-5):
    """attnlab's output (a Tensor or ndarray) against torch's, within atol (float32: 1e-5)."""
    ours = getattr(ours, "data", ours)
    np.testing.assert_allclose(ours, theirs.detach().cpu().numpy(), atol=atol, rtol=atol)
