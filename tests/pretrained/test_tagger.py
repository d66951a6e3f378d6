"""TokenTagger: the tagging head on a pretrained encoder, trained by al.fit and by a plain
AdamW loop; on all-MiniLM-L6-v2 and real Python source, clearly better than untrained."""

import numpy as np
import pytest

import attnlab as al
from attnlab.data import IGNORE
from attnlab.data.tasks import python_tags
from attnlab.pretrained import Tokenizer, TokenTagger, load_bert, tag_report
from hf_folders import write_bert, write_tokenizer


@pytest.fixture
def tiny(tmp_path):
    folder = write_tokenizer(write_bert(tmp_path))
    return load_bert(folder), Tokenizer(folder)


def test_head_and_errors(tiny):
    encoder, _ = tiny
    tagger = TokenTagger(encoder, 7)
    assert tagger.encoder is encoder and tagger.dropout.p == 0.1
    assert tagger.classifier.weight.shape == (7, 8) and (tagger.classifier.bias.data == 0).all()
    assert abs(tagger.classifier.weight.data.std() - 0.02) < 0.015
    logits = tagger(np.array([[2, 5, 6, 3, 0]]), key_mask=np.array([[1, 1, 1, 1, 0]]))
    assert logits.shape == (1, 5, 7)
    assert TokenTagger(encoder, 3, dropout=0.0).dropout.p == 0.0
    with pytest.raises(
        TypeError, match="encoder: expected an attnlab.pretrained.BertModel, got Linear"
    ):
        TokenTagger(al.nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match="num_labels: expected an int >= 1, got 0"):
        TokenTagger(encoder, 0)


def test_fit_trains_the_encoder_and_the_head(tiny):
    """al.fit on a tagging Task: a step changes the head and, unless frozen, the encoder."""
    encoder, tokenizer = tiny
    task = python_tags(
        tokenizer,
        block_size=16,
        n_train=32,
        n_test=8,
        train_modules=("colorsys",),
        test_modules=("bisect",),
    )
    tagger = TokenTagger(encoder.train(), len(task.labels))
    head = tagger.classifier.weight.data.copy()
    query = encoder.encoder.layers[0].self_attn.in_proj_weight.data.copy()
    al.fit(tagger, task, steps=2, batch_size=8, progress=False)
    assert not np.array_equal(head, tagger.classifier.weight.data)
    assert not np.array_equal(query, encoder.encoder.layers[0].self_attn.in_proj_weight.data)
    encoder.requires_grad_(False)
    query = encoder.encoder.layers[0].self_attn.in_proj_weight.data.copy()
    al.fit(tagger, task, steps=2, batch_size=8, progress=False)
    np.testing.assert_array_equal(query, encoder.encoder.layers[0].self_attn.in_proj_weight.data)


def test_minilm_head_learns_python_tags(minilm_path):
    """The classic recipe, small: all-MiniLM-L6-v2 frozen, a linear head trained with AdamW on
    its hidden states of real standard-library source; the test split (other modules) gets
    tagged far better than by the untrained head."""
    tagger = TokenTagger(load_bert(minilm_path), 7, dropout=0.0)
    task = python_tags(Tokenizer(minilm_path), block_size=32, n_train=96, n_test=48)
    untrained = tag_report(tagger, task)
    with al.no_grad():  # the encoder is frozen: its hidden states once
        hidden = tagger.encoder(task.train.inputs, key_mask=task.train.key_mask).data
    counted = task.train.targets != IGNORE
    features, targets = hidden[counted], task.train.targets[counted]  # (N, C), (N,)
    al.manual_seed(0)
    optimizer = al.optim.AdamW(tagger.classifier.parameters(), lr=1e-2)
    for _ in range(150):
        loss = al.functional.cross_entropy(tagger.classifier(al.tensor(features)), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained = tag_report(tagger, task)
    assert trained.accuracy > untrained.accuracy + 0.3, (untrained.accuracy, trained.accuracy)
    assert trained.averages()["macro avg"][2] > untrained.averages()["macro avg"][2] + 0.2
