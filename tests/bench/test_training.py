"""attnlab.bench.training: the torch GPT is attnlab's, and the rows' steps run."""

import numpy as np

import attnlab as al
from attnlab.bench.training import (
    _torch_gpt,
    encoder_parameter_shapes,
    optimizer_rows,
    training_rows,
)


def test_encoder_parameter_shapes_are_torchs(torch):
    layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=8)
    expected = [tuple(p.shape) for _ in range(4) for p in layer.parameters()]
    assert encoder_parameter_shapes(4) == expected


def test_torch_gpt_has_attnlabs_parameter_count(torch):
    vocab, block, layers, heads, c = 64, 16, 2, 4, 32
    ours = al.models.GPT(vocab, block, n_layer=layers, n_head=heads, d_model=c)
    theirs = _torch_gpt(torch, vocab, block, layers, heads, c)
    count = sum(p.data.size for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters())
    assert theirs(torch.zeros((2, block), dtype=torch.int64)).shape == (2, block, vocab)


def test_training_and_optimizer_steps_change_the_parameters(torch):
    for row in training_rows(True, torch) + optimizer_rows(True, torch):
        assert set(row.impls) == {"attnlab", "torch"}, row.name
    (adamw,) = optimizer_rows(True, None)
    params = adamw.impls["attnlab"].__self__.param_groups[0]["params"]
    before = [p.data.copy() for p in params]
    adamw.impls["attnlab"]()
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, params))
