"""Task, Split and Batch: batches, sampling, encoding, and the checks on what they hold."""

import numpy as np
import pytest

import attnlab as al
from attnlab.data import IGNORE, Batch, Split, Task


def numbered_task(n_train=10, n_test=4, kind="lm"):
    """A task whose row i holds the value i everywhere, so rows are easy to follow."""

    def split(n, offset):
        inputs = np.repeat(np.arange(offset, offset + n, dtype=np.int64)[:, None], 3, axis=1)
        targets = inputs[:, 0].copy() if kind == "classify" else inputs.copy()
        return Split(inputs=inputs % 20, targets=targets % 20)

    vocab = tuple(f"t{i}" for i in range(20))
    labels = vocab if kind in ("tagging", "classify") else None
    return Task("numbered", kind, vocab, split(n_train, 0), split(n_test, 10), 20, labels=labels)


def row_values(batch):
    return batch.inputs[:, 0].tolist()


def test_ignore_matches_cross_entropy_default():
    import inspect

    assert IGNORE == -100
    parameters = inspect.signature(al.functional.cross_entropy).parameters
    assert parameters["ignore_index"].default == IGNORE


def test_batches_are_one_seeded_epoch():
    task = numbered_task()
    epoch = list(task.batches(4, seed=7))
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert all(isinstance(b, Batch) for b in epoch)
    order = [v for b in epoch for v in row_values(b)]
    assert sorted(order) == list(range(10))
    assert order == [v for b in task.batches(4, seed=7) for v in row_values(b)]
    assert order != [v for b in task.batches(4, seed=8) for v in row_values(b)]
    assert order != list(range(10))


def test_batches_options():
    task = numbered_task()
    assert [row_values(b) for b in task.batches(4, shuffle=False)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    assert [len(b) for b in task.batches(4, seed=0, drop_last=True)] == [4, 4]
    assert [len(b) for b in task.batches(5, seed=0, drop_last=True)] == [5, 5]
    test = [v for b in task.batches(3, seed=0, split="test") for v in row_values(b)]
    assert sorted(test) == list(range(10, 14))
    assert [len(b) for b in task.batches(100, seed=0)] == [10]


def test_batches_without_a_seed_follow_the_global_seed():
    task = numbered_task()
    al.manual_seed(5)
    first = [row_values(b) for b in task.batches(10)]
    al.manual_seed(5)
    assert [row_values(b) for b in task.batches(10)] == first


def test_batches_are_copies_the_split_is_not_written():
    task = numbered_task()
    batch = next(task.batches(4, seed=0))
    batch.inputs[:] = 0
    assert task.train.inputs[:, 0].tolist() == list(range(10))


def test_sample_draws_distinct_rows_by_seed():
    task = numbered_task()
    batch = task.sample(6, seed=1)
    values = row_values(batch)
    assert len(set(values)) == 6 and set(values) <= set(range(10))
    assert row_values(task.sample(6, seed=1)) == values
    draws = {tuple(row_values(task.sample(6, seed=s))) for s in range(20)}
    assert len(draws) > 1
    rng = np.random.default_rng(0)
    assert row_values(task.sample(3, seed=rng)) != row_values(task.sample(3, seed=rng))
    assert set(row_values(task.sample(4, seed=0, split="test"))) == set(range(10, 14))
    assert batch.targets.shape == (6, 3) and batch.source is None and batch.key_mask is None


def test_classify_batches_carry_per_row_targets():
    task = numbered_task(kind="classify")
    batch = task.sample(5, seed=0)
    assert batch.targets.shape == (5,) and batch.targets.tolist() == row_values(batch)


def test_key_mask_and_source_follow_their_rows():
    inputs = np.arange(12, dtype=np.int64).reshape(4, 3)
    split = Split(
        inputs=inputs,
        targets=inputs.copy(),
        source=inputs[:, :2] * 2,
        key_mask=inputs % 2 == 0,
    )
    batch = split.take(np.array([2, 0]))
    assert batch.source.tolist() == [[12, 14], [0, 2]]
    assert batch.key_mask.tolist() == [[True, False, True], [True, False, True]]
    assert len(split) == 4 and len(batch) == 2


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda t: t.batches(0), ValueError, "batch_size: expected an int >= 1, got 0"),
        (lambda t: t.batches(-2), ValueError, "batch_size"),
        (lambda t: t.batches(2.5), TypeError, "batch_size: expected an int, got float"),
        (lambda t: t.batches(2, split="valid"), ValueError, "split: expected 'train' or 'test'"),
        (lambda t: t.batches(2, seed=-1), ValueError, "seed"),
        (lambda t: t.batches(2, shuffle=1), TypeError, "shuffle: expected a bool"),
        (lambda t: t.batches(2, drop_last="no"), TypeError, "drop_last"),
        (lambda t: t.sample(0, seed=0), ValueError, "batch_size"),
        (lambda t: t.sample(11, seed=0), ValueError, "batch_size: 11 exceeds the 10 rows of"),
        (lambda t: t.sample(2, seed="x"), TypeError, "seed"),
        (lambda t: t.sample(2, seed=0, split="dev"), ValueError, "split"),
        (lambda t: t.counted("all"), ValueError, "split"),
        (lambda t: t.decode([1, IGNORE]), ValueError, r"ids: -100 is not a token id in \[0, 20\)"),
        (lambda t: t.decode([20]), ValueError, "ids: 20 is not a token id"),
        (lambda t: t.decode([[1, 2]]), ValueError, "ids: expected 1 dimension"),
        (lambda t: t.decode([1.0]), TypeError, "ids: expected integer token ids"),
        (lambda t: t.encode("t1 t99"), ValueError, "text: token 't99' is not in the vocabulary"),
    ],
)
def test_bad_calls_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(numbered_task())


def test_batches_checks_its_arguments_before_iterating():
    with pytest.raises(ValueError, match="batch_size"):
        numbered_task().batches(0)  # no next(): the error comes at the call


def test_encode_decode_tokens_and_counted():
    task = al.data.tasks.reverse(length=3, vocab_size=5, n_train=20, n_test=5)
    row = task.train.inputs[0]
    text = task.decode(row)
    assert text.split()[3] == "<sep>" and task.encode(text).tolist() == row.tolist()
    assert task.encode(text.split()).tolist() == row.tolist()
    assert task.tokens(row) == text.split() and task.decode([]) == ""
    assert task.encode("").dtype == np.int64
    counted = task.counted()
    assert counted.shape == task.test.targets.shape
    assert counted.tolist() == (task.test.targets != IGNORE).tolist()
    assert counted[:, :3].sum() == 0 and counted[:, 3:].all()
    assert task.counted("train").shape == task.train.targets.shape


def test_repr_names_kind_sizes_and_vocab():
    task = al.data.tasks.reverse(length=3, vocab_size=5, n_train=20, n_test=5)
    assert repr(task) == "Task('reverse', kind='lm', train=20x6, test=5x6, vocab=6, classes=6)"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda i: Split(inputs=i.astype(np.int32), targets=i),
            TypeError,
            "inputs: expected a NumPy int64 array, got int32",
        ),
        (lambda i: Split(inputs=i.tolist(), targets=i), TypeError, "inputs: .* got list"),
        (lambda i: Split(inputs=i[0], targets=i), ValueError, "inputs: expected 2 dimensions"),
        (
            lambda i: Split(inputs=i, targets=i[:, :2]),
            ValueError,
            r"targets: expected shape \(4, 3\) or \(4,\), got \(4, 2\)",
        ),
        (lambda i: Split(inputs=i, targets=i.astype(np.float32)), TypeError, "targets"),
        (
            lambda i: Split(inputs=i, targets=i, source=i[:2]),
            ValueError,
            "source: axis 0 .* size 2, expected 4",
        ),
        (lambda i: Split(inputs=i, targets=i, key_mask=i), TypeError, "key_mask: expected dtype"),
        (
            lambda i: Split(inputs=i, targets=i, key_mask=np.ones((4, 2), bool)),
            ValueError,
            "key_mask: expected shape",
        ),
    ],
)
def test_split_checks_its_arrays(make, error, match):
    with pytest.raises(error, match=match):
        make(np.arange(12, dtype=np.int64).reshape(4, 3))


def test_task_checks_its_fields():
    split = numbered_task().train
    vocab = tuple(f"t{i}" for i in range(20))
    with pytest.raises(ValueError, match="kind: expected one of"):
        Task("x", "regression", vocab, split, split, 20)
    with pytest.raises(ValueError, match="vocab: expected distinct token strings"):
        Task("x", "lm", vocab[:-1] + ("t0",), split, split, 20)
    with pytest.raises(ValueError, match="num_classes: expected 20 for kind 'lm', got 19"):
        Task("x", "lm", vocab, split, split, 19)
    with pytest.raises(ValueError, match="source: expected a source array exactly when"):
        Task("x", "seq2seq", vocab, split, split, 20, bos_id=0)
    with pytest.raises(ValueError, match=r"targets: expected shape \(N,\) exactly when"):
        Task("x", "classify", vocab, split, split, 20, labels=vocab)
    short = Split(inputs=split.inputs[:, :2], targets=split.targets[:, :2])
    with pytest.raises(ValueError, match="test: inputs' block size 2 differs from train's 3"):
        Task("x", "lm", vocab, split, short, 20)
    with_source = Split(inputs=split.inputs, targets=split.targets, source=split.inputs)
    with pytest.raises(ValueError, match="bos_id: a seq2seq task needs"):
        Task("x", "seq2seq", vocab, with_source, with_source, 20)
