"""python_tags: words of real standard-library source tagged by their tokenize category,
aligned with subword tokens as NER recipes align them (the tag on the first subword)."""

import importlib.util

import numpy as np
import pytest

from attnlab.data import IGNORE
from attnlab.data.tasks import python_tags
from attnlab.data.tasks.python_tags import TAGS, tagged_lines
from hf_folders import VOCAB, write_tokenizer

pytest.importorskip("tokenizers")

SOURCE = '''def area(r):  # a circle
    """Return the area."""
    return 3.14 * r ** 2 if r else len(x)
'''


def test_tagged_lines():
    lines = [([w for w in words], [TAGS[t] for t in tags]) for words, tags in tagged_lines(SOURCE)]
    assert lines == [
        (
            ["def", "area", "(", "r", ")", ":", "#", "a", "circle"],
            [
                "keyword",
                "name",
                "operator",
                "name",
                "operator",
                "operator",
                "comment",
                "comment",
                "comment",
            ],
        ),
        (['"""Return', "the", 'area."""'], ["string"] * 3),
        (
            ["return", "3.14", "*", "r", "**", "2", "if", "r", "else", "len", "(", "x", ")"],
            [
                "keyword",
                "number",
                "operator",
                "name",
                "operator",
                "number",
                "keyword",
                "name",
                "keyword",
                "builtin",
                "operator",
                "name",
                "operator",
            ],
        ),
    ]


def test_multiline_strings_keep_their_lines():
    lines = tagged_lines('x = """one two\n\nthree"""\n')
    assert [words for words, _ in lines] == [["x", "=", '"""one', "two"], ['three"""']]


def _source(module):
    with open(importlib.util.find_spec(module).origin, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from attnlab.pretrained import Tokenizer

    return Tokenizer(write_tokenizer(tmp_path_factory.mktemp("tok")))


def test_task_rows(tokenizer):
    task = python_tags(
        tokenizer, block_size=16, train_modules=("colorsys",), test_modules=("bisect",)
    )
    assert task.kind == "tagging" and task.labels == TAGS and task.num_classes == 7
    assert task.vocab == tuple(VOCAB) and task.pad_id == 0 and task.block_size == 16
    for split in (task.train, task.test):
        mask = split.key_mask
        n = mask.sum(1)
        assert (n >= 3).all() and (n <= 16).all()
        rows = np.arange(len(n))
        assert (split.inputs[:, 0] == VOCAB.index("[CLS]")).all()
        assert (split.inputs[rows, n - 1] == VOCAB.index("[SEP]")).all()
        assert (split.inputs[~mask] == 0).all()
        # No target on [CLS], [SEP] or padding; every tag in range elsewhere.
        assert (split.targets[:, 0] == IGNORE).all() and (
            split.targets[rows, n - 1] == IGNORE
        ).all()
        assert (split.targets[~mask] == IGNORE).all()
        counted = split.targets[split.targets != IGNORE]
        assert counted.min() >= 0 and counted.max() < 7


def test_first_subword_takes_the_tag(tokenizer):
    """A word cut into subwords ('maxc' -> 'max' '##c'): IGNORE on the '##' pieces (the tag
    sits on the word's first piece: test_every_word_is_counted_once)."""
    task = python_tags(
        tokenizer, block_size=64, train_modules=("colorsys",), test_modules=("bisect",)
    )
    ids, targets = task.train.inputs, task.train.targets
    pieces = np.isin(ids, [i for i, t in enumerate(VOCAB) if t.startswith("##")])
    assert pieces.sum() > 10
    assert (targets[pieces] == IGNORE).all()


def test_every_word_is_counted_once(tokenizer):
    """Without truncation, the counted targets are the words of the source, in order."""
    task = python_tags(
        tokenizer, block_size=64, train_modules=("colorsys",), test_modules=("bisect",)
    )
    tags = [t for _, line_tags in tagged_lines(_source("colorsys")) for t in line_tags]
    counted = task.train.targets[task.train.targets != IGNORE]
    np.testing.assert_array_equal(counted, tags)


def test_sizes_and_seed(tokenizer):
    small = python_tags(
        tokenizer,
        block_size=32,
        n_train=10,
        n_test=5,
        train_modules=("colorsys",),
        test_modules=("bisect",),
    )
    assert (len(small.train), len(small.test)) == (10, 5)
    again = python_tags(
        tokenizer,
        block_size=32,
        n_train=10,
        n_test=5,
        train_modules=("colorsys",),
        test_modules=("bisect",),
    )
    np.testing.assert_array_equal(small.train.inputs, again.train.inputs)


def test_errors(tokenizer):
    with pytest.raises(
        TypeError, match="tokenizer: expected an attnlab.pretrained.Tokenizer, got str"
    ):
        python_tags("bert")
    with pytest.raises(ValueError, match="block_size: expected an int >= 4, got 2"):
        python_tags(tokenizer, block_size=2)
    with pytest.raises(
        TypeError, match="train_modules: expected a non-empty tuple of module names"
    ):
        python_tags(tokenizer, train_modules="colorsys")
    with pytest.raises(ValueError, match="test_modules: the source of 'sys' is not available"):
        python_tags(tokenizer, train_modules=("colorsys",), test_modules=("sys",))
    with pytest.raises(TypeError, match="train_modules: expected module names"):
        python_tags(tokenizer, train_modules=(3,))
    with pytest.raises(ValueError, match="n_test: 100000 exceeds the"):
        python_tags(tokenizer, train_modules=("colorsys",), test_modules=("bisect",), n_test=100000)


def test_lines_end_with_a_separator(tokenizer):
    """[CLS] line [SEP] line [SEP] ...: a comment's end is visible, as the line break is."""
    task = python_tags(
        tokenizer, block_size=64, train_modules=("colorsys",), test_modules=("bisect",)
    )
    sep = VOCAB.index("[SEP]")
    ids, targets = task.train.inputs, task.train.targets
    assert ((ids == sep).sum(axis=1) >= 2).any()
    assert (targets[ids == sep] == IGNORE).all()
    lines = len(tagged_lines(_source("colorsys")))
    assert (ids == sep).sum() == lines
