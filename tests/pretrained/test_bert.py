"""BertConfig and BertModel: the config checks, the input checks, BERT's dropout layout,
gradients (float64 finite differences on a tiny BERT), and all-MiniLM-L6-v2 against
transformers' eager BertModel: per-head attention of every layer, hidden states of a padded
batch, the pooler, and the gradients of every parameter."""

import numpy as np
import pytest

import attnlab as al
from attnlab.pretrained import BertConfig, BertModel, load_bert
from hf_folders import VOCAB, tiny_config, write_bert

SENTENCES = [
    "The cat sat on the mat.",
    "Attention weights tell us where each head looks; they do not say whether it matters.",
    "Zoë's café in Zürich serves crème brûlée.",
    "x = 1",
]


# ---- the config ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, match",
    [
        ("model_type", "roberta", "model_type 'roberta' is not supported"),
        ("position_embedding_type", "relative_key", "position_embedding_type = 'relative_key'"),
        ("is_decoder", True, "is_decoder = True"),
        ("add_cross_attention", True, "add_cross_attention = True"),
        ("hidden_act", "swish", "hidden_act = 'swish' is not supported"),
        ("num_attention_heads", 3, "hidden_size = 8 is not divisible by num_attention_heads = 3"),
        ("layer_norm_eps", 0.0, "layer_norm_eps = 0.0 is not supported"),
        ("hidden_dropout_prob", 1.5, "hidden_dropout_prob = 1.5"),
        ("vocab_size", 0, "vocab_size = 0 is not supported"),
        ("num_hidden_layers", "2", "num_hidden_layers = '2' is not supported"),
    ],
)
def test_config_names_the_unsupported_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        BertConfig.from_dict(tiny_config(**{field: value}), "config.json")


def test_config_reads_the_fields_and_ignores_the_rest():
    config = BertConfig.from_dict(tiny_config(layer_norm_eps=1e-7, gradient_checkpointing=True))
    assert (config.hidden_size, config.num_hidden_layers, config.layer_norm_eps) == (8, 2, 1e-7)


def test_model_needs_a_config():
    with pytest.raises(TypeError, match="config: expected a BertConfig, got dict"):
        BertModel(tiny_config())


def test_layers_are_berts():
    """Post-norm layers with the config's eps and activation, and BERT's dropout: on the
    attention weights and each block's output, none after the feed-forward activation."""
    model = BertModel(
        BertConfig.from_dict(
            tiny_config(
                hidden_act="gelu_new", layer_norm_eps=1e-7, attention_probs_dropout_prob=0.2
            )
        )
    )
    for layer in model.encoder.layers:
        assert layer.norm_first is False
        assert layer.norm1.eps == layer.norm2.eps == model.embeddings.norm.eps == 1e-7
        assert layer.activation.approximate == "tanh"
        assert layer.self_attn.dropout == 0.2
        assert layer.dropout.p == 0.0 and layer.dropout1.p == layer.dropout2.p == 0.1
    assert model.embeddings.dropout.p == 0.1
    relu = BertModel(BertConfig.from_dict(tiny_config(hidden_act="relu")))
    assert isinstance(relu.encoder.layers[0].activation, al.nn.ReLU)


# ---- inputs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_bert(write_bert(tmp_path_factory.mktemp("bert")))


def test_input_errors(tiny):
    ids = np.array([[2, 5, 6, 3]])
    with pytest.raises(TypeError, match="input_ids: expected an integer dtype, got float64"):
        tiny(ids.astype(float))
    with pytest.raises(
        ValueError, match=r"input_ids: expected 2 dimensions \(B, T\), got shape \(4,\)"
    ):
        tiny(ids[0])
    n = len(VOCAB)
    with pytest.raises(ValueError, match=rf"input_ids: {n} is out of range \[0, vocab_size={n}\)"):
        tiny(np.array([[2, n]]))
    with pytest.raises(ValueError, match="input_ids: 17 tokens exceed max_position_embeddings=16"):
        tiny(np.ones((1, 17), dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"token_type_ids: 2 is out of range \[0, type_vocab_size=2\)"
    ):
        tiny(ids, token_type_ids=np.full_like(ids, 2))
    with pytest.raises(ValueError, match=r"token_type_ids: expected input_ids' shape \(1, 4\)"):
        tiny(ids, token_type_ids=np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"key_mask: expected shape \(B, Lk\) = \(1, 4\)"):
        tiny(ids, key_mask=np.ones((1, 3), dtype=bool))
    with pytest.raises(TypeError, match="key_mask: expected dtype bool or 0/1 integers"):
        tiny(ids, key_mask=np.ones((1, 4)))


def test_key_mask_as_tokenizer_ints_and_token_types(tiny):
    ids = np.array([[2, 5, 6, 3], [2, 7, 3, 0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    with al.no_grad():
        as_ints = tiny(ids, key_mask=mask).data
        as_bools = tiny(ids, key_mask=mask.astype(bool)).data
        zeros = tiny(ids, key_mask=mask, token_type_ids=np.zeros_like(ids)).data
        ones = tiny(ids, key_mask=mask, token_type_ids=np.ones_like(ids)).data
        alone = tiny(ids[1:, :3]).data
    np.testing.assert_array_equal(as_ints, as_bools)
    np.testing.assert_array_equal(as_ints, zeros)
    assert np.abs(ones - zeros).max() > 1e-3  # the token-type embeddings are used
    # Padding changes nothing at the real tokens.
    np.testing.assert_allclose(as_ints[1, :3], alone[0], atol=1e-6)


def test_record_attention_gives_one_entry_per_layer(tiny):
    ids = np.array([[2, 5, 6, 3, 0]])
    with al.record_attention(tiny) as rec, al.no_grad():
        tiny(ids, key_mask=ids != 0)
    assert list(rec) == ["encoder.layers.0.self_attn", "encoder.layers.1.self_attn"]
    for name in rec:
        assert rec[name].shape == (1, 2, 5, 5)
        np.testing.assert_allclose(rec[name].sum(-1), 1, atol=1e-6)
        assert (rec[name][..., 4] == 0).all()  # the padding key


def test_pool_needs_a_pooler(tmp_path):
    from hf_folders import tiny_weights

    config = tiny_config()
    model = load_bert(write_bert(tmp_path, config, tiny_weights(config, pooler=False)))
    assert model.pooler is None
    with pytest.raises(ValueError, match="pool: this model has no pooler"):
        model.pool(model(np.array([[2, 3]])))


def test_gradcheck_float64(tmp_path):
    """Every parameter and every op of the encoder, finite differences in float64, with
    padding and two segments."""
    model = load_bert(write_bert(tmp_path), dtype=np.float64)
    # The padding keys hold [UNK] (1), not [PAD] (0), whose row gets no gradient by design
    # (padding_idx, as torch's) while finite differences would see it move the padding rows.
    ids = np.array([[2, 5, 6, 3, 7], [2, 8, 3, 1, 1]])
    key_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    types = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]])
    params = list(model.parameters())

    def fn(*_):
        hidden = model(ids, key_mask=key_mask, token_type_ids=types)
        return hidden, model.pool(hidden)

    assert al.autograd.gradcheck(fn, params)


# ---- all-MiniLM-L6-v2 against transformers -------------------------------------------------
def _hf_outputs(hf_bert, batch):
    import torch

    with torch.no_grad():
        return hf_bert(
            input_ids=torch.from_numpy(batch.input_ids),
            attention_mask=torch.from_numpy(batch.key_mask.astype(np.int64)),
            token_type_ids=torch.from_numpy(batch.token_type_ids),
            output_attentions=True,
        )


def test_attention_and_hidden_states_match_transformers(minilm, hf_bert):
    """A padded batch: every layer's per-head weights within 1e-5 at the real tokens, the last
    hidden state within 2e-5 at the real tokens, the pooler output within 2e-5."""
    batch = minilm.tokenize(SENTENCES)
    assert not batch.key_mask.all()  # padded
    ref = _hf_outputs(hf_bert, batch)
    model = minilm.model
    with al.record_attention(model) as rec, al.no_grad():
        hidden = model(
            batch.input_ids, key_mask=batch.key_mask, token_type_ids=batch.token_type_ids
        )
        pooled = model.pool(hidden)
    assert list(rec) == [f"encoder.layers.{i}.self_attn" for i in range(6)]
    worst = 0.0
    for i, name in enumerate(rec):
        ours, theirs = rec[name], ref.attentions[i].numpy()
        assert ours.shape == theirs.shape == (len(SENTENCES), 12) + batch.input_ids.shape[1:] * 2
        for row, n in enumerate(batch.lengths):
            worst = max(worst, np.abs(ours[row, :, :n] - theirs[row, :, :n]).max())
            assert (ours[row, :, :n, n:] == 0).all()
    assert worst <= 1e-5, worst
    real = batch.key_mask
    hidden_error = np.abs(hidden.data - ref.last_hidden_state.numpy())[real].max()
    assert hidden_error <= 2e-5, hidden_error
    np.testing.assert_allclose(pooled.data, ref.pooler_output.numpy(), atol=2e-5, rtol=0)


def test_gradients_match_torch(minilm_path, hf_bert):
    """A small padded batch through the loaded model in training mode without dropout: the
    gradient of a weighted sum of the hidden states for every parameter, and for the
    embeddings, against torch's."""
    import torch

    from attnlab.pretrained import Tokenizer
    from attnlab.pretrained.weights import attnlab_name

    model = load_bert(minilm_path).train()
    for module in model.modules():  # dropout off on both sides, so the two runs compare
        if isinstance(module, al.nn.Dropout):
            module.p = 0.0
        if isinstance(module, al.nn.MultiheadAttention):
            module.dropout = 0.0
    batch = Tokenizer(minilm_path, max_length=16)(SENTENCES[:3])
    g = np.random.default_rng(0).standard_normal(batch.input_ids.shape + (384,)).astype(np.float32)
    g *= batch.key_mask[..., None]
    model(batch.input_ids, key_mask=batch.key_mask).backward(g)

    hf_bert.zero_grad(set_to_none=True)
    with torch.enable_grad():
        out = hf_bert(
            input_ids=torch.from_numpy(batch.input_ids),
            attention_mask=torch.from_numpy(batch.key_mask.astype(np.int64)),
        )
        out.last_hidden_state.backward(torch.from_numpy(g))
    ours = dict(model.named_parameters())
    checked = 0
    for name, p in hf_bert.named_parameters():
        if name.startswith("pooler"):
            continue
        target, part = attnlab_name(name)
        grad = ours[target].grad
        if part is not None:
            grad = np.split(grad, 3)[part]
        ref = p.grad.numpy()
        if name.endswith("attention.self.key.bias"):
            # Adding a constant to a query's every score leaves its softmax as it is: the
            # gradient is 0, and both sides hold float32 rounding of 0.
            assert np.abs(grad).max() < 1e-5 and np.abs(ref).max() < 1e-5, name
        else:
            error = np.linalg.norm(grad - ref) / np.linalg.norm(ref)
            assert error < 1e-4, (name, error)
        checked += 1
    assert checked == 6 * 16 + 5  # 16 per layer; word, position, type, LayerNorm w and b
    hf_bert.zero_grad(set_to_none=True)


def test_float64_equals_transformers_to_rounding(minilm_path, hf_bert):
    """In float64 both compute the same function: every head's weights and the last hidden
    state of texts cut at 256 tokens and short ones padded to them agree to 1e-12, so the
    float32 differences above are rounding, not a different model."""
    import copy

    import torch

    from attnlab.pretrained import Tokenizer
    from pretrained_texts import VARIED

    texts = VARIED[:2] + VARIED[5:7] + VARIED[-2:]
    batch = Tokenizer(minilm_path, max_length=256)(texts)
    assert batch.lengths.max() == 256 and batch.lengths.min() == 2
    reference = copy.deepcopy(hf_bert).double()
    with torch.no_grad():
        ref = reference(
            input_ids=torch.from_numpy(batch.input_ids),
            attention_mask=torch.from_numpy(batch.key_mask.astype(np.int64)),
            output_attentions=True,
        )
    model = load_bert(minilm_path, dtype=np.float64)
    with al.record_attention(model) as rec, al.no_grad():
        hidden = model(batch.input_ids, key_mask=batch.key_mask).data
    for i, name in enumerate(rec):
        for row, n in enumerate(batch.lengths):
            np.testing.assert_allclose(
                rec[name][row, :, :n],
                ref.attentions[i][row, :, :n].numpy(),
                rtol=0,
                atol=1e-12,
                err_msg=f"{name}, text {row}",
            )
    error = np.abs(hidden - ref.last_hidden_state.numpy())[batch.key_mask].max()
    assert error < 1e-10, error
