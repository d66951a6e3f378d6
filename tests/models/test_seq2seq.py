"""Seq2Seq (models/seq2seq.py): shapes, gradients, causal decoder, greedy decoding."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck
from attnlab.models import Seq2Seq


def small():
    al.manual_seed(0)
    return Seq2Seq(7, 9, max_len=8, n_layer=1, n_head=2, d_model=8)


def test_shapes_and_gradcheck(rng):
    model = small().double()
    src, tgt = rng.integers(0, 7, (2, 5)), rng.integers(0, 9, (2, 4))
    assert model(src, tgt).shape == (2, 4, 9)
    chosen = [
        model.src_embed.tok.weight,
        model.generator.weight,
        model.transformer.decoder.layers[0].multihead_attn.out_proj.weight,
    ]
    assert gradcheck(lambda *ps: model(src, tgt), chosen)


def test_decoder_is_causal(rng):
    model = small().eval()
    src, tgt = rng.integers(0, 7, (1, 5)), rng.integers(0, 9, (1, 6))
    a = model(src, tgt).data
    changed = tgt.copy()
    changed[0, 4:] = (changed[0, 4:] + 1) % 9
    b = model(src, changed).data
    np.testing.assert_array_equal(a[:, :4], b[:, :4])


def test_greedy_decode_matches_step_by_step_argmax(rng):
    model = small()
    src = rng.integers(0, 7, (3, 5))
    out = model.greedy_decode(src, 4, bos_id=8)
    assert out.shape == (3, 4)
    prefix = np.full((3, 1), 8)
    with al.no_grad():
        model.eval()
        for t in range(4):
            step = model(src, prefix).data[:, -1].argmax(-1)
            np.testing.assert_array_equal(out[:, t], step)
            prefix = np.concatenate([prefix, step[:, None]], axis=1)
    with pytest.raises(ValueError, match=r"max_len: expected an int in \[0, 8\)"):
        model.greedy_decode(src, 8, bos_id=8)
