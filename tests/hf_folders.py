"""Tiny Hugging Face folders written by the tests: a random BERT (config.json and
model.safetensors with Hugging Face's names, listed here by hand, independently of
attnlab.pretrained's own mapping), a WordPiece tokenizer.json, and a sentence-transformers
pipeline around them."""

import json
from pathlib import Path

import numpy as np

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "run",
    "##s",
    "##ing",
    "big",
    "red",
    "def",
    "return",
    "x",
    "(",
    ")",
    ":",
    "=",
    "+",
    "1",
    "2",
    ".",
    ",",
    "!",
    "?",
    # enough of colorsys.py's words for subword pieces (maxc = max ##c)
    "if",
    "else",
    "in",
    "of",
    "max",
    "min",
    "range",
    "sum",
    "##c",
    "color",
    "hue",
    "r",
    "g",
    "b",
    "h",
    "v",
    "y",
    "i",
    "s",
    "l",
    "q",
    "p",
    "t",
    "*",
    "-",
    "/",
    "#",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + WORDS


def tiny_config(**overrides) -> dict:
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": len(VOCAB),
        "hidden_size": 8,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 16,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }
    config.update(overrides)
    return config


def tiny_weights(config: dict, seed: int = 0, *, pooler: bool = True) -> dict:
    """Hugging Face BertModel weight name -> random float32 array of its shape."""
    rng = np.random.default_rng(seed)
    c, f = config["hidden_size"], config["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], c),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], c),
        "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], c),
        "embeddings.LayerNorm.weight": (c,),
        "embeddings.LayerNorm.bias": (c,),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            shapes[f"{p}attention.self.{name}.weight"] = (c, c)
            shapes[f"{p}attention.self.{name}.bias"] = (c,)
        shapes.update(
            {
                f"{p}attention.output.dense.weight": (c, c),
                f"{p}attention.output.dense.bias": (c,),
                f"{p}attention.output.LayerNorm.weight": (c,),
                f"{p}attention.output.LayerNorm.bias": (c,),
                f"{p}intermediate.dense.weight": (f, c),
                f"{p}intermediate.dense.bias": (f,),
                f"{p}output.dense.weight": (c, f),
                f"{p}output.dense.bias": (c,),
                f"{p}output.LayerNorm.weight": (c,),
                f"{p}output.LayerNorm.bias": (c,),
            }
        )
    if pooler:
        shapes.update({"pooler.dense.weight": (c, c), "pooler.dense.bias": (c,)})
    weights = {}
    for name, shape in shapes.items():
        scale = 1.0 if "embeddings" in name and "LayerNorm" not in name else 0.5
        w = rng.standard_normal(shape).astype(np.float32) * scale
        weights[name] = 1 + 0.1 * w if name.endswith("LayerNorm.weight") else w
    return weights


def write_bert(
    folder: Path, config: dict | None = None, weights: dict | None = None, seed: int = 0
) -> Path:
    """config.json and model.safetensors of a tiny BERT in ``folder`` (created)."""
    from safetensors.numpy import save_file

    config = tiny_config() if config is None else config
    weights = tiny_weights(config, seed) if weights is None else weights
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(weights, str(folder / "model.safetensors"))
    return folder


def write_tokenizer(folder: Path, **config) -> Path:
    """A lowercasing WordPiece tokenizer.json over VOCAB, with [CLS] ... [SEP] around each text,
    and the tokenizer_config.json ``config`` when given."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", VOCAB.index("[CLS]")), ("[SEP]", VOCAB.index("[SEP]"))],
    )
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    if config:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def write_sentence_model(
    folder: Path,
    *,
    pooling: dict | None = None,
    normalize: bool = True,
    max_seq_length: int = 12,
    seed: int = 0,
) -> Path:
    """A sentence-transformers folder: the tiny BERT and tokenizer, mean pooling (or
    ``pooling``'s config), Normalize when ``normalize``."""
    write_bert(folder, seed=seed)
    write_tokenizer(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling = (
        {"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True}
        if pooling is None
        else pooling
    )
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return folder
