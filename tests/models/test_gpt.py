"""GPT (models/gpt.py): shapes, positions, tied weights, gradients in float64, a config that
rebuilds it, reproducible generation, a key/value cache equal to the whole context, inference
blocks fused into one core call each, attention recorded by module name."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck
from attnlab.models import GPT, GPTConfig
from kernel_calls import counting_core_calls
from layer_paths import composition_only


def small(positions="learned", **kw):
    al.manual_seed(0)
    return GPT(
        vocab_size=11, block_size=9, n_layer=2, n_head=2, d_model=8, positions=positions, **kw
    )


@pytest.mark.parametrize("positions", ["learned", "rotary", "alibi"])
def test_shapes_and_gradcheck(rng, positions):
    model = small(positions).double()
    idx = rng.integers(0, 11, (2, 7))
    assert model(idx).shape == (2, 7, 11)
    params = list(model.parameters())
    for p in params:  # away from the init's tiny values, where every difference is small
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    chosen = [model.wte.weight, model.blocks[0].attn.out_proj.weight, model.blocks[1].mlp.c_fc.bias]
    assert gradcheck(lambda *ps: model(idx), chosen)


def test_attention_only_and_untied():
    model = small(mlp=False, tie_weights=False)
    assert model.blocks[0].mlp is None
    assert model.lm_head.weight is not model.wte.weight
    tied = small()
    assert tied.lm_head.weight is tied.wte.weight
    names = [n for n, _ in tied.named_parameters()]
    assert "lm_head.weight" not in names  # a tied weight counts once
    assert "lm_head.weight" in tied.state_dict()  # and is saved under both names, as in torch


def test_config_rebuilds_the_model():
    model = small("rotary")
    clone = GPT.from_config(model.config)
    assert isinstance(model.config, GPTConfig) and clone.config == model.config
    clone.load_state_dict(model.state_dict())
    idx = np.arange(9)[None] % 11
    np.testing.assert_array_equal(clone(idx).data, model(idx).data)


def test_generate_is_reproducible_and_greedy_at_temperature_zero(rng):
    model = small()
    prompt = rng.integers(0, 11, (3, 4))
    a = model.generate(prompt, 10, temperature=0.8, top_k=5, seed=1)
    b = model.generate(prompt, 10, temperature=0.8, top_k=5, seed=1)
    assert a.shape == (3, 14) and (a[:, :4] == prompt).all()
    np.testing.assert_array_equal(a, b)
    greedy = model.generate(prompt, 3, temperature=0)
    with al.no_grad():
        first = model(prompt).data[:, -1].argmax(-1)
    np.testing.assert_array_equal(greedy[:, 4], first)
    assert model.training  # the mode is restored


def randomized(positions, dtype=np.float32, **kw):
    """A small GPT whose weights are far from the init's (whose logits nearly tie)."""
    model = small(positions, **kw)
    model = model.double() if dtype == np.float64 else model
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return model


@pytest.mark.parametrize("positions", ["learned", "rotary", "alibi"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cached_logits_equal_the_whole_context(rng, positions, dtype):
    model = randomized(positions, dtype).eval()
    idx = rng.integers(0, 11, (3, 9))
    cache = model.new_cache()
    with al.no_grad():
        full = model(idx).data
        steps = [model(idx[:, :4], cache=cache).data]
        steps += [model(idx[:, t : t + 1], cache=cache).data for t in range(4, 9)]
    # Bitwise: every kernel sums in an order that does not depend on how many rows it gets.
    np.testing.assert_array_equal(np.concatenate(steps, axis=1), full)


@pytest.mark.parametrize("positions", ["learned", "rotary", "alibi"])
@pytest.mark.parametrize("mlp", [True, False])
def test_fused_blocks_equal_the_composition(rng, positions, mlp):
    """A block is one core call each way, inference (with and without a cache) and training
    (with dropout: the same seeds) alike, bitwise the Python composition."""
    model = randomized(positions, mlp=mlp, dropout=0.2)
    idx = rng.integers(0, 11, (2, 9))
    targets = rng.integers(0, 11, 18)

    def run():
        model.eval()
        cache = model.new_cache()
        with al.no_grad():
            out = [
                model(idx).data,
                model(idx[:, :6], cache=cache).data,
                model(idx[:, 6:], cache=cache).data,
                cache[1].keys,
            ]
        model.train()
        model.zero_grad()
        loss = al.functional.cross_entropy(model(idx).reshape(-1, 11), targets)
        loss.backward()
        return out + [loss.data] + [p.grad for p in model.parameters()]

    al.manual_seed(3)
    with composition_only():
        composed = run()
    al.manual_seed(3)
    with counting_core_calls() as calls:
        fused = run()
    assert calls["encoder_layer_forward"] == 4 * 2 and calls["encoder_layer_backward"] == 2
    assert "attention_forward" not in calls
    for a, b in zip(fused, composed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("positions", ["learned", "rotary", "alibi"])
@pytest.mark.parametrize("prompt_length", [3, 9, 12])
def test_generate_with_a_cache_equals_without(rng, positions, prompt_length):
    # block_size 9: 12 new tokens outgrow it (after a 3-token prompt) or start past it.
    model = randomized(positions)
    prompt = rng.integers(0, 11, (2, prompt_length))
    for options in ({"temperature": 0}, {"temperature": 0.9, "top_k": 4, "seed": 3}):
        cached = model.generate(prompt, 12, **options)
        uncached = model.generate(prompt, 12, use_cache=False, **options)
        np.testing.assert_array_equal(cached, uncached)
    assert cached.shape == (2, prompt_length + 12)


def test_generate_runs_one_token_a_step_through_the_cache(monkeypatch, rng):
    model = small()
    lengths = []
    forward = GPT.forward

    def spy(self, idx, **kw):
        lengths.append((idx.shape[1], len(kw["cache"][0]) if kw.get("cache") else None))
        return forward(self, idx, **kw)

    monkeypatch.setattr(GPT, "forward", spy)
    model.generate(rng.integers(0, 11, (1, 6)), 5, temperature=0)
    # the prompt, then one token a step while the context fits block_size 9, then the last
    # 9 tokens
    assert lengths == [(6, 0), (1, 6), (1, 7), (1, 8), (9, None)]


def test_cache_errors(rng):
    model = small()
    idx = rng.integers(0, 11, (1, 6))
    cache = model.new_cache()
    model(idx, cache=cache)
    with pytest.raises(
        ValueError, match="idx: sequence length 4 after 6 cached tokens exceeds block_size 9"
    ):
        model(idx[:, :4], cache=cache)
    with pytest.raises(TypeError, match="cache: expected a sequence of 2 KVCaches, one per block"):
        model(idx, cache=cache[:1])
    with pytest.raises(ValueError, match=r"cache: its blocks hold different lengths \[0, 6\]"):
        model(idx, cache=[cache[0], al.nn.KVCache()])
    with pytest.raises(TypeError, match="use_cache: expected a bool, got int"):
        model.generate(idx, 1, use_cache=1)


def test_attention_is_recorded_by_module_name(rng):
    model = small()
    idx = rng.integers(0, 11, (2, 6))
    with al.record_attention(model) as rec:
        model(idx)
    assert list(rec) == ["blocks.0.attn", "blocks.1.attn"]
    w = rec["blocks.0.attn"]
    assert w.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(w.sum(-1), 1, atol=1e-5)
    assert not np.triu(w[0, 0], 1).any()  # causal


def test_bad_arguments():
    with pytest.raises(ValueError, match="d_model: 10 is not divisible by n_head=4"):
        GPT(5, 8, n_head=4, d_model=10)
    with pytest.raises(ValueError, match="positions: expected one of"):
        GPT(5, 8, positions="sinusoidal")
    model = small()
    with pytest.raises(ValueError, match="idx: sequence length 10 exceeds block_size 9"):
        model(np.zeros((1, 10), np.int64))
    with pytest.raises(ValueError, match="top_k: expected an int >= 1"):
        model.generate(np.zeros((1, 2), np.int64), 2, top_k=0)
    with pytest.raises(ValueError, match="temperature: expected a number >= 0"):
        model.generate(np.zeros((1, 2), np.int64), 2, temperature=-1.0)
    with pytest.raises(TypeError, match="temperature: expected a real number, got str"):
        model.generate(np.zeros((1, 2), np.int64), 2, temperature="0.5")
    with pytest.raises(ValueError, match="temperature: expected a finite number, got nan"):
        model.generate(np.zeros((1, 2), np.int64), 2, temperature=float("nan"))
    with pytest.raises(TypeError, match="max_new_tokens: expected an int, got float"):
        model.generate(np.zeros((1, 2), np.int64), 2.0)
