"""interop/models.py: TorchGPT, TorchEncoderClassifier and TorchSeq2Seq compute what attnlab's
GPT, EncoderClassifier and Seq2Seq compute (outputs within 1e-5 in float32, eval mode, with
key padding; the gradients of the same loss within 1e-4), and each model goes to torch and back
bitwise; the rotary and ALiBi modules match attnlab's functional ops."""

import numpy as np
import pytest

import attnlab as al
from torch_compare import assert_backward_matches, close, same_arrays, same_state

torch = pytest.importorskip("torch")
from attnlab.interop import from_torch, models, to_torch  # noqa: E402

V, T = 11, 10


def randomized(model, rng, scale=0.3):
    """Random parameters (non-zero biases), so that a swapped layout cannot agree."""
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape) * scale
    return model


def key_mask(b, length):
    km = np.ones((b, length), dtype=bool)
    km[0, -3:] = False
    return km


def check_model(
    rng, model, kind, ours_args, theirs_args, ours_kwargs=None, theirs_kwargs=None, atol=1e-5
):
    """to_torch(model) is a ``kind`` with the model's config, output and gradients, and
    from_torch of it gives the model back bitwise."""
    theirs = to_torch(model.eval())
    assert type(theirs) is kind and theirs.config == model.config and not theirs.training
    out = model(*ours_args, **(ours_kwargs or {}))
    ref = theirs(*theirs_args, **(theirs_kwargs or {}))
    close(out, ref, atol)
    assert_backward_matches(torch, rng, model, theirs, out, ref, [], [])
    again = from_torch(theirs)
    assert type(again) is type(model) and again.config == model.config
    same_arrays(model.state_dict(), again.state_dict())
    same_state(theirs, to_torch(again))
    return theirs, again


GPT_OPTIONS = [
    {"positions": "learned"},
    {"positions": "rotary"},
    {"positions": "alibi"},
    {"positions": "alibi", "n_head": 3, "d_model": 24},  # slopes of 3 heads
    {"tie_weights": False},
    {"mlp": False},
    {"d_ff": 20, "dropout": 0.1},
]


@pytest.mark.parametrize("options", GPT_OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_gpt(rng, options):
    model = randomized(
        al.models.GPT(V, T, **{"n_layer": 2, "n_head": 2, "d_model": 16, **options}), rng
    )
    idx = rng.integers(0, V, (3, T))
    theirs, again = check_model(rng, model, models.TorchGPT, [idx], [torch.from_numpy(idx)])
    assert (again.lm_head.weight is again.wte.weight) == model.config.tie_weights
    assert (theirs.lm_head.weight is theirs.wte.weight) == model.config.tie_weights
    with torch.no_grad():  # a shorter sequence: the position tables are built again
        close(model(idx[:, :4]), theirs(torch.from_numpy(idx[:, :4])))


@pytest.mark.parametrize("positions", ["rotary", "alibi"])
def test_gpt_float64(rng, positions):
    model = randomized(
        al.models.GPT(V, T, n_layer=1, n_head=2, d_model=8, positions=positions), rng
    ).double()
    idx = rng.integers(0, V, (2, T))
    theirs, again = check_model(
        rng, model, models.TorchGPT, [idx], [torch.from_numpy(idx)], atol=1e-12
    )
    assert theirs.wte.weight.dtype == torch.float64
    assert again.wte.weight.dtype == np.float64


def test_gpt_rotary_settings_carry_over(rng):
    model = randomized(
        al.models.GPT(V, T, n_layer=2, n_head=2, d_model=16, positions="rotary"), rng
    )
    for block in model.blocks:
        block.attn.positions.interleaved = True
        block.attn.positions.rotary_dim = 4
        block.attn.positions.base = 500.0
    idx = rng.integers(0, V, (2, T))
    theirs, again = check_model(rng, model, models.TorchGPT, [idx], [torch.from_numpy(idx)])
    for block in (*theirs.blocks, *again.blocks):
        p = block.attn.positions
        assert (p.interleaved, p.rotary_dim, p.base) == (True, 4, 500.0)


def test_gpt_train_mode_and_dropout_carry_over(rng):
    model = al.models.GPT(V, T, n_layer=1, n_head=2, d_model=8, dropout=0.2)
    theirs = to_torch(model)  # attnlab's models start in training mode, as torch's
    assert theirs.training and theirs.blocks[0].attn.dropout == 0.2
    assert theirs.blocks[0].mlp.dropout.p == 0.2
    assert from_torch(theirs.eval()).training is False


@pytest.mark.parametrize(
    "pooling,positions,activation",
    [
        ("cls", "learned", "gelu"),
        ("mean", "sinusoidal", "relu"),
        ("none", "learned", "gelu"),
        ("cls", "sinusoidal", "gelu"),
    ],
)
def test_encoder_classifier(rng, pooling, positions, activation):
    model = randomized(
        al.models.EncoderClassifier(
            V,
            3,
            max_len=T,
            n_layer=2,
            n_head=2,
            d_model=16,
            pooling=pooling,
            positions=positions,
            activation=activation,
        ),
        rng,
    )
    idx = rng.integers(0, V, (3, T))
    km = key_mask(3, T)
    check_model(
        rng,
        model,
        models.TorchEncoderClassifier,
        [idx],
        [torch.from_numpy(idx)],
        {"key_mask": km},
        {"key_mask": torch.from_numpy(km)},
    )


def test_encoder_classifier_without_key_mask(rng):
    model = randomized(
        al.models.EncoderClassifier(
            V, 3, max_len=T, n_layer=1, n_head=2, d_model=8, pooling="mean"
        ),
        rng,
    )
    idx = rng.integers(0, V, (2, T))
    check_model(rng, model, models.TorchEncoderClassifier, [idx], [torch.from_numpy(idx)])


@pytest.mark.parametrize(
    "positions,dtype",
    [("sinusoidal", np.float32), ("learned", np.float32), ("sinusoidal", np.float64)],
)
def test_seq2seq(rng, positions, dtype):
    model = randomized(
        al.models.Seq2Seq(
            V, V + 2, max_len=T, n_layer=2, n_head=2, d_model=16, positions=positions
        ),
        rng,
    ).to(dtype)
    src, tgt = rng.integers(0, V, (3, T)), rng.integers(0, V + 2, (3, T - 3))
    skm, tkm = key_mask(3, T), key_mask(3, T - 3)
    check_model(
        rng,
        model,
        models.TorchSeq2Seq,
        [src, tgt],
        [torch.from_numpy(src), torch.from_numpy(tgt)],
        {"src_key_mask": skm, "tgt_key_mask": tkm},
        {"src_key_mask": torch.from_numpy(skm), "tgt_key_mask": torch.from_numpy(tkm)},
        atol=1e-5 if dtype == np.float32 else 1e-12,
    )


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("rotary_dim", [None, 6])
def test_rotary_matches_attnlab_rope(rng, interleaved, rotary_dim):
    x = rng.standard_normal((2, 3, 7, 8))
    rotary = models.TorchRotary(8, base=500.0, rotary_dim=rotary_dim, interleaved=interleaved)
    expected = al.functional.rope(x, base=500.0, rotary_dim=rotary_dim, interleaved=interleaved)
    close(expected, rotary(torch.from_numpy(x)), atol=1e-12)
    x32 = x.astype(np.float32)
    close(
        al.functional.rope(x32, base=500.0, rotary_dim=rotary_dim, interleaved=interleaved),
        rotary(torch.from_numpy(x32)),
    )


@pytest.mark.parametrize("heads", [1, 3, 4, 6])
def test_alibi_matches_attnlab_bias(heads):
    bias = models.TorchALiBi(heads).causal_bias(5, torch.zeros((), dtype=torch.float64))
    allowed = np.tril(np.ones((5, 5), dtype=bool))
    expected = np.where(allowed, al.functional.alibi_bias(heads, 5, 5, dtype=np.float64), -np.inf)
    np.testing.assert_array_equal(bias.numpy(), expected)


@pytest.mark.parametrize(
    "kind", [models.TorchGPT, models.TorchEncoderClassifier, models.TorchSeq2Seq]
)
def test_torch_models_want_their_config(kind):
    with pytest.raises(TypeError, match=r"config: expected an? \w+Config, got dict"):
        kind({"vocab_size": 3})


def test_torch_models_check_the_length():
    gpt = models.TorchGPT(al.models.GPTConfig(V, 4, n_layer=1, n_head=1, d_model=8))
    with pytest.raises(ValueError, match="idx: sequence length 5 exceeds block_size 4"):
        gpt(torch.zeros((1, 5), dtype=torch.int64))
    s2s = models.TorchSeq2Seq(al.models.Seq2SeqConfig(V, V, 4, n_layer=1, n_head=1, d_model=8))
    with pytest.raises(ValueError, match="idx: sequence length 6 exceeds max_len 4"):
        s2s(torch.zeros((1, 6), dtype=torch.int64), torch.zeros((1, 2), dtype=torch.int64))


@pytest.mark.parametrize("positions", [None, "rotary", "alibi"])
def test_causal_self_attention_gradcheck(rng, positions):
    attn = models.TorchCausalSelfAttention(8, 2, 0.0, positions).double()
    x = torch.from_numpy(rng.standard_normal((2, 5, 8))).requires_grad_()
    assert torch.autograd.gradcheck(attn, (x,))
