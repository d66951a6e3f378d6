"""load_bert: Hugging Face names onto attnlab's, and a clear ValueError naming the folder,
file, field or key for anything wrong (RELIABILITY item 33); weights never through pickle."""

import json

import numpy as np
import pytest

import attnlab as al
from attnlab.pretrained import load_bert
from attnlab.pretrained.weights import attnlab_name
from hf_folders import tiny_config, tiny_weights, write_bert

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _check_loaded(model, weights, prefix=""):
    """Every attnlab parameter holds the file's array (q, k, v stacked in in_proj)."""
    state = model.state_dict()
    w = {k[len(prefix) :]: v for k, v in weights.items()}
    np.testing.assert_array_equal(
        state["embeddings.word_embeddings.weight"], w["embeddings.word_embeddings.weight"]
    )
    np.testing.assert_array_equal(state["embeddings.norm.bias"], w["embeddings.LayerNorm.bias"])
    for i in range(2):
        hf = f"encoder.layer.{i}."
        al_ = f"encoder.layers.{i}."
        qkv = [w[f"{hf}attention.self.{n}.weight"] for n in ("query", "key", "value")]
        np.testing.assert_array_equal(state[al_ + "self_attn.in_proj_weight"], np.concatenate(qkv))
        qkv = [w[f"{hf}attention.self.{n}.bias"] for n in ("query", "key", "value")]
        np.testing.assert_array_equal(state[al_ + "self_attn.in_proj_bias"], np.concatenate(qkv))
        for hf_name, al_name in (
            ("attention.output.dense", "self_attn.out_proj"),
            ("attention.output.LayerNorm", "norm1"),
            ("intermediate.dense", "linear1"),
            ("output.dense", "linear2"),
            ("output.LayerNorm", "norm2"),
        ):
            for leaf in ("weight", "bias"):
                np.testing.assert_array_equal(
                    state[f"{al_}{al_name}.{leaf}"], w[f"{hf}{hf_name}.{leaf}"]
                )
    np.testing.assert_array_equal(state["pooler.dense.weight"], w["pooler.dense.weight"])
    assert len(state) == 5 + 2 * 12 + 2


def test_loads_every_weight_in_eval_mode(tmp_path):
    weights = tiny_weights(tiny_config())
    model = load_bert(write_bert(tmp_path, weights=weights))
    _check_loaded(model, weights)
    assert not model.training and all(not m.training for m in model.modules())
    assert model.config.num_hidden_layers == 2


def test_bert_prefix_and_task_heads(tmp_path):
    """BertFor... checkpoints: "bert." before every encoder weight and a head beside it."""
    weights = {"bert." + k: v for k, v in tiny_weights(tiny_config()).items()}
    weights["cls.predictions.bias"] = np.zeros(31, np.float32)
    weights["bert.embeddings.position_ids"] = np.arange(16)[None]  # a buffer: skipped
    write_bert(tmp_path, weights=weights)
    with pytest.raises(
        ValueError,
        match=r"model.safetensors: unexpected key 'cls.predictions.bias' "
        r"\(not a BertModel weight; strict=False ignores it\)",
    ):
        load_bert(tmp_path)
    _check_loaded(load_bert(tmp_path, strict=False), weights, prefix="bert.")


def test_tensorflow_norm_names_and_dtypes(tmp_path):
    """gamma/beta for LayerNorm weight/bias; float16 weights converted to the model's dtype."""
    config = tiny_config()
    weights = tiny_weights(config)
    renamed = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        ): v
        for k, v in weights.items()
    }
    renamed["embeddings.word_embeddings.weight"] = weights[
        "embeddings.word_embeddings.weight"
    ].astype(np.float16)
    model = load_bert(write_bert(tmp_path, weights=renamed), dtype=np.float64)
    state = model.state_dict()
    assert all(v.dtype == np.float64 for v in state.values())
    np.testing.assert_array_equal(
        state["encoder.layers.1.norm2.weight"], weights["encoder.layer.1.output.LayerNorm.weight"]
    )
    np.testing.assert_array_equal(
        state["embeddings.word_embeddings.weight"],
        renamed["embeddings.word_embeddings.weight"].astype(np.float64),
    )


def test_sharded_checkpoint(tmp_path):
    from safetensors.numpy import save_file

    weights = tiny_weights(tiny_config())
    names = sorted(weights)
    halves = {
        "model-00001-of-00002.safetensors": names[:20],
        "model-00002-of-00002.safetensors": names[20:],
    }
    for file, keys in halves.items():
        save_file({k: weights[k] for k in keys}, str(tmp_path / file))
    (tmp_path / "config.json").write_text(json.dumps(tiny_config()))
    index = {"weight_map": {k: file for file, keys in halves.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    _check_loaded(load_bert(tmp_path), weights)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(
        ValueError,
        match="model-00002-of-00002.safetensors: missing from .* "
        r"\(a shard model.safetensors.index.json lists\)",
    ):
        load_bert(tmp_path)


def test_folder_errors(tmp_path):
    with pytest.raises(TypeError, match="path: expected a folder path .*got int"):
        load_bert(3)
    with pytest.raises(ValueError, match="path: .*nowhere' does not exist"):
        load_bert(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="path: .*file' is a file, not a folder"):
        load_bert(tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="config.json: missing from .*empty"):
        load_bert(empty)
    (empty / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not valid JSON"):
        load_bert(empty)
    (empty / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json: expected a JSON object, got list"):
        load_bert(empty)
    (empty / "config.json").write_text(
        json.dumps(tiny_config(position_embedding_type="relative_key"))
    )
    with pytest.raises(
        ValueError, match="config.json: position_embedding_type = 'relative_key' is not supported"
    ):
        load_bert(empty)
    (empty / "config.json").write_text(json.dumps(tiny_config()))
    with pytest.raises(ValueError, match="model.safetensors: missing from"):
        load_bert(empty)


def test_a_pickle_is_never_read(tmp_path):
    """A folder with only pytorch_model.bin: the error says why it is not loaded, and the
    file is not opened (a pickle that would run code if it were)."""
    folder = write_bert(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n(S'exit 3'\ntR.")
    with pytest.raises(
        ValueError, match="pytorch_model.bin is a pickle, which attnlab never loads"
    ):
        load_bert(folder)


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda w: w.pop("encoder.layer.1.attention.self.value.bias"),
            "missing key 'encoder.layer.1.attention.self.value.bias'",
        ),
        (
            lambda w: w.pop("embeddings.LayerNorm.weight"),
            "missing key 'embeddings.LayerNorm.weight'",
        ),
        (
            lambda w: w.update(
                {"encoder.layer.0.intermediate.dense.weight": np.zeros((8, 16), np.float32)}
            ),
            (
                r"'encoder.layer.0.intermediate.dense.weight': shape \(8, 16\) does not match the "
                r"config's \(16, 8\)"
            ),
        ),
        (
            lambda w: w.update(
                {"encoder.layer.0.attention.self.key.weight": np.zeros((8, 8), np.int32)}
            ),
            "'encoder.layer.0.attention.self.key.weight': dtype I32 is not supported",
        ),
        (
            lambda w: w.update({"encoder.layer.2.output.dense.bias": np.zeros(8, np.float32)}),
            "unexpected key 'encoder.layer.2.output.dense.bias'",
        ),
        (
            lambda w: w.update(
                {"encoder.layer.0.attention.self.rotary.weight": np.zeros(8, np.float32)}
            ),
            "unexpected key 'encoder.layer.0.attention.self.rotary.weight'",
        ),
    ],
)
def test_weight_errors_name_the_key(tmp_path, change, match):
    weights = tiny_weights(tiny_config())
    change(weights)
    with pytest.raises(ValueError, match="model.safetensors: .*" + match):
        load_bert(write_bert(tmp_path, weights=weights))


def test_every_problem_in_one_error(tmp_path):
    weights = tiny_weights(tiny_config())
    weights.pop("encoder.layer.0.output.dense.weight")
    weights.pop("pooler.dense.bias")  # the pooler is built from its weight's presence
    with pytest.raises(ValueError) as raised:
        load_bert(write_bert(tmp_path, weights=weights))
    assert "'encoder.layer.0.output.dense.weight'" in str(raised.value)
    assert "'pooler.dense.bias'" in str(raised.value)


@pytest.mark.parametrize(
    "content", [b"", b"12345678", b'\x10\x00\x00\x00\x00\x00\x00\x00{"a":1}', b"\xff" * 8 + b"{}"]
)
def test_corrupt_file(tmp_path, content):
    folder = write_bert(tmp_path)
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match="model.safetensors: not a readable safetensors file"):
        load_bert(folder)


def test_truncated_file(tmp_path):
    folder = write_bert(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match="model.safetensors: "):
        load_bert(folder)


def test_argument_errors(tmp_path):
    folder = write_bert(tmp_path)
    with pytest.raises(TypeError, match="dtype: expected float32 or float64, got float16"):
        load_bert(folder, dtype=np.float16)
    with pytest.raises(TypeError, match="strict: expected a bool, got int"):
        load_bert(folder, strict=1)


def test_attnlab_name():
    assert attnlab_name("encoder.layer.11.attention.self.key.bias") == (
        "encoder.layers.11.self_attn.in_proj_bias",
        1,
    )
    assert attnlab_name("encoder.layer.0.output.LayerNorm.gamma") == (
        "encoder.layers.0.norm2.weight",
        None,
    )
    assert attnlab_name("embeddings.LayerNorm.beta") == ("embeddings.norm.bias", None)
    assert attnlab_name("pooler.dense.weight") == ("pooler.dense.weight", None)
    for name in (
        "cls.predictions.bias",
        "encoder.layer.0.output.dense.gamma",
        "embeddings.position_ids",
        "encoder.layer.x.output.dense.weight",
    ):
        assert attnlab_name(name) is None


def test_weights_are_used(tmp_path):
    """Two folders that differ in one layer's query weight give different outputs."""
    config = tiny_config()
    weights = tiny_weights(config)
    a = load_bert(write_bert(tmp_path / "a", weights=weights))
    weights["encoder.layer.1.attention.self.query.weight"] = (
        weights["encoder.layer.1.attention.self.query.weight"] * 3
    )
    b = load_bert(write_bert(tmp_path / "b", weights=weights))
    ids = np.array([[2, 5, 6, 3]])
    with al.no_grad():
        assert np.abs(a(ids).data - b(ids).data).max() > 1e-3
