"""The synthetic task generators: seeded, well-formed, disjoint, and right (checked against the
plain-Python oracles in tests/reference_tasks.py on decoded rows)."""

import numpy as np
import pytest

import attnlab as al
import reference_tasks as oracle
from attnlab.data import IGNORE, tasks

ROWS = 300  # rows per split checked against the oracles

# Small configurations of every seeded generator, each fast to build.
SEEDED = {
    "copy": lambda seed: tasks.copy(length=5, vocab_size=7, n_train=600, n_test=300, seed=seed),
    "copy_seq2seq": lambda seed: tasks.copy(
        length=5, vocab_size=7, format="seq2seq", n_train=600, n_test=300, seed=seed
    ),
    "reverse": lambda seed: tasks.reverse(length=7, n_train=600, n_test=300, seed=seed),
    "reverse_seq2seq": lambda seed: tasks.reverse(
        length=7, format="seq2seq", n_train=600, n_test=300, seed=seed
    ),
    "sort": lambda seed: tasks.sort(length=9, vocab_size=4, n_train=600, n_test=300, seed=seed),
    "sort_seq2seq": lambda seed: tasks.sort(
        length=9, vocab_size=4, format="seq2seq", n_train=600, n_test=300, seed=seed
    ),
    "add": lambda seed: tasks.add(3, n_train=600, n_test=300, seed=seed),
    "add_seq2seq": lambda seed: tasks.add(3, format="seq2seq", n_train=600, n_test=300, seed=seed),
    "modular_add": lambda seed: tasks.modular_add(31, seed=seed),
    "induction": lambda seed: tasks.induction(12, 9, n_train=600, n_test=300, seed=seed),
    "induction_any_period": lambda seed: tasks.induction(
        12, 10, min_period=3, n_train=600, n_test=300, seed=seed
    ),
    "histogram": lambda seed: tasks.histogram(9, 5, n_train=600, n_test=300, seed=seed),
    "dyck": lambda seed: tasks.dyck(12, 2, n_train=600, n_test=300, seed=seed),
    "dyck_one_kind": lambda seed: tasks.dyck(20, 1, n_train=600, n_test=300, seed=seed),
}


@pytest.fixture(scope="module", params=sorted(SEEDED))
def seeded(request):
    return request.param, SEEDED[request.param](0)


@pytest.fixture(scope="module")
def pydoc_text():
    return tasks.text(block_size=32)


def fields(rows):
    return [rows.inputs, rows.targets, rows.source, rows.key_mask]


def problems(task, split):
    """Each row's problem (what the answer is computed from), as bytes."""
    rows = task.split(split)
    arrays = rows.source if task.kind == "seq2seq" else rows.inputs
    return [row.tobytes() for row in arrays]


def lm_sequence(task, split, i):
    """Row i of an lm task as its whole token sequence (inputs, then the last target)."""
    rows = task.split(split)
    return task.tokens(np.append(rows.inputs[i], rows.targets[i, -1]))


# --- every seeded generator -----------------------------------------------------------------


def test_same_seed_same_arrays_and_other_seed_other_arrays(seeded):
    name, task = seeded
    again, other = SEEDED[name](0), SEEDED[name](1)
    for split in ("train", "test"):
        for a, b in zip(fields(task.split(split)), fields(again.split(split))):
            assert (a is None and b is None) or np.array_equal(a, b)
    assert not np.array_equal(task.train.inputs, other.train.inputs)


def test_shapes_and_dtypes(seeded):
    _, task = seeded
    for rows in (task.train, task.test):
        assert rows.inputs.dtype == rows.targets.dtype == np.int64
        assert rows.inputs.ndim == 2 and rows.inputs.shape[1] == task.block_size
        assert rows.targets.shape == rows.inputs.shape
        assert len(rows) == rows.inputs.shape[0]
        assert rows.key_mask is None
        if task.kind == "seq2seq":
            assert rows.source.dtype == np.int64 and rows.source.shape[0] == len(rows)
        else:
            assert rows.source is None
    outputs = task.vocab if task.kind in ("lm", "seq2seq") else task.labels
    assert task.num_classes == len(outputs)


def test_ids_in_range_and_targets_in_range_or_ignored(seeded):
    _, task = seeded
    for rows in (task.train, task.test):
        assert rows.inputs.min() >= 0 and rows.inputs.max() < len(task.vocab)
        counted = rows.targets[rows.targets != IGNORE]
        assert counted.size and counted.min() >= 0 and counted.max() < task.num_classes
        if rows.source is not None:
            assert rows.source.min() >= 0 and rows.source.max() < len(task.vocab)


def test_rows_are_distinct_and_test_is_disjoint_from_train(seeded):
    _, task = seeded
    train, test = problems(task, "train"), problems(task, "test")
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)


def test_batches_cover_the_epoch_exactly_once(seeded):
    _, task = seeded
    for split in ("train", "test"):
        rows = task.split(split)
        batches = list(task.batches(64, seed=3, split=split))
        assert [len(b) for b in batches[:-1]] == [64] * (len(batches) - 1)
        assert 0 < len(batches[-1]) <= 64
        seen = sorted(row.tobytes() for b in batches for row in np.hstack([b.inputs, b.targets]))
        assert seen == sorted(row.tobytes() for row in np.hstack([rows.inputs, rows.targets]))
        if rows.source is not None:
            seen_source = sorted(row.tobytes() for b in batches for row in b.source)
            assert seen_source == sorted(row.tobytes() for row in rows.source)


# --- answers against the oracles ------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_lm_digit_tasks_answer_the_prompt(name, split):
    task = SEEDED[name](0)
    rows = task.split(split)
    length = (task.block_size) // 2
    for i in range(ROWS):
        sequence = lm_sequence(task, split, i)
        prompt, sep, answer = sequence[:length], sequence[length], sequence[length + 1 :]
        assert sep == "<sep>" and "<sep>" not in prompt + answer
        assert answer == getattr(oracle, name)(prompt)
        counted = [t for t in range(task.block_size) if rows.targets[i, t] != IGNORE]
        assert counted == list(range(length, 2 * length))
        assert task.tokens(rows.targets[i, counted]) == answer
    assert task.sep_id == task.vocab.index("<sep>") and task.bos_id is None


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_seq2seq_digit_tasks_answer_the_source(name, split):
    task = SEEDED[f"{name}_seq2seq"](0)
    rows = task.split(split)
    for i in range(ROWS):
        answer = getattr(oracle, name)(task.tokens(rows.source[i]))
        assert task.tokens(rows.targets[i]) == answer
        assert task.tokens(rows.inputs[i]) == ["<bos>"] + answer[:-1]
    assert task.vocab[task.bos_id] == "<bos>" and task.counted(split).all()


@pytest.mark.parametrize("split", ["train", "test"])
def test_add_writes_the_sum_reversed(split):
    task = SEEDED["add"](0)
    rows = task.split(split)
    for i in range(ROWS):
        tokens = lm_sequence(task, split, i)
        a, b, answer = tokens[0:3], tokens[4:7], tokens[8:]
        assert tokens[3] == "+" and tokens[7] == "="
        assert answer == oracle.add(a, b)
        counted = [t for t in range(task.block_size) if rows.targets[i, t] != IGNORE]
        assert counted == [7, 8, 9, 10]


def test_add_seq2seq_answers_the_source():
    task = SEEDED["add_seq2seq"](0)
    for i in range(ROWS):
        source = task.tokens(task.test.source[i])
        assert source[3] == "+"
        assert task.tokens(task.test.targets[i]) == oracle.add(source[:3], source[4:])


def test_add_with_one_digit_splits_every_pair():
    task = tasks.add(1)
    pairs = {task.decode(row[:3]) for split in (task.train, task.test) for row in split.inputs}
    assert (len(task.train), len(task.test)) == (80, 20)
    assert pairs == {f"{a} + {b}" for a in range(10) for b in range(10)}


def test_modular_add_splits_all_pairs_by_train_fraction():
    p = 31
    task = SEEDED["modular_add"](0)
    assert (len(task.train), len(task.test)) == (round(0.3 * p * p), p * p - round(0.3 * p * p))
    pairs = []
    for rows in (task.train, task.test):
        assert (rows.targets[:, :2] == IGNORE).all()
        for inputs, target in zip(rows.inputs, rows.targets[:, 2]):
            a, b, equals = task.tokens(inputs)
            assert equals == "=" and task.vocab[target] == oracle.modular_add(a, b, p)
            pairs.append((a, b))
    assert sorted(pairs) == sorted((str(a), str(b)) for a in range(p) for b in range(p))
    assert tasks.modular_add().vocab[-1] == "=" and len(tasks.modular_add().vocab) == 60


@pytest.mark.parametrize("split", ["train", "test"])
def test_induction_repeats_a_distinct_first_half(split):
    task = SEEDED["induction"](0)
    rows = task.split(split)
    half = 6
    repeated = task.position_masks["repeated"]
    assert repeated.tolist() == [False] * half + [True] * (half - 1)
    for i in range(ROWS):
        tokens = lm_sequence(task, split, i)
        assert len(set(tokens[:half])) == half and tokens[half:] == tokens[:half]
        counted = rows.targets[i] != IGNORE
        assert counted.tolist() == repeated.tolist()
        assert task.tokens(rows.targets[i, counted]) == tokens[half + 1 :]


@pytest.mark.parametrize("split", ["train", "test"])
def test_induction_with_min_period_repeats_the_last_period_symbols(split):
    task = SEEDED["induction_any_period"](0)
    rows = task.split(split)
    assert task.position_masks == {}
    periods = set()
    for i in range(ROWS):
        tokens = lm_sequence(task, split, i)
        counted = rows.targets[i] != IGNORE
        start = int(np.argmax(counted))  # the repeat's first symbol, at input position 12 - p
        period = 12 - start
        periods.add(period)
        assert counted.tolist() == [False] * start + [True] * (period - 1)
        assert len(set(tokens[:start])) == start  # distinct before the repeat
        assert tokens[start:] == tokens[start - period : start]
        assert task.tokens(rows.targets[i, counted]) == tokens[start + 1 :]
    assert periods == {3, 4, 5, 6}


@pytest.mark.parametrize("split", ["train", "test"])
def test_histogram_labels_count_each_token(split):
    task = SEEDED["histogram"](0)
    rows = task.split(split)
    assert task.labels == tuple(str(c) for c in range(1, 10))
    for i in range(ROWS):
        labels = [task.labels[j] for j in rows.targets[i]]
        assert labels == oracle.histogram(task.tokens(rows.inputs[i]))


@pytest.mark.parametrize("name", ["dyck", "dyck_one_kind"])
def test_dyck_labels_each_prefix_and_mixes_balanced_with_corrupted(name):
    task = SEEDED[name](0)
    brackets = ("(", ")", "[", "]") if name == "dyck" else ("(", ")")
    assert task.vocab == brackets and task.labels == ("balanced", "open", "invalid")
    for rows in (task.train, task.test):
        ends_balanced = 0
        for i in range(len(rows)):
            labels = [task.labels[j] for j in rows.targets[i]]
            assert labels == oracle.dyck(task.tokens(rows.inputs[i]))
            ends_balanced += labels[-1] == "balanced"
        # Half the rows are balanced strings; one replaced bracket never leaves one balanced.
        assert ends_balanced == len(rows) // 2
        assert set(rows.targets.ravel().tolist()) == {0, 1, 2}


def test_dyck_balanced_strings_are_uniform():
    from attnlab.data.tasks.dyck import _balanced

    rows = _balanced(np.random.default_rng(0), 20_000, pairs=3, kinds=1)
    words, counts = np.unique(rows, axis=0, return_counts=True)
    assert len(words) == 5  # Catalan(3)
    assert np.abs(counts / 4_000 - 1).max() < 0.08  # 5 standard deviations


def test_dyck_default_split_sizes_respect_the_number_of_balanced_strings():
    task = tasks.dyck(8, 1)  # Catalan(4) = 14 balanced strings
    assert (len(task.train), len(task.test)) == (12, 2)


# --- the text corpus ------------------------------------------------------------------------


def test_text_windows_are_the_pydoc_topics_corpus(pydoc_text):
    from pydoc_data.topics import topics

    corpus = "\n\n".join(topics[key] for key in sorted(topics))
    task, block = pydoc_text, 32
    assert task.kind == "lm" and task.vocab == tuple(sorted(set(corpus)))
    cut = round(len(corpus) * 0.9)
    assert len(task.train) == cut - block and len(task.test) == len(corpus) - cut - block
    for start in (0, 1, 12345, len(task.train) - 1):
        assert task.decode(task.train.inputs[start]) == corpus[start : start + block]
        assert task.decode(task.train.targets[start]) == corpus[start + 1 : start + block + 1]
    assert task.decode(task.test.inputs[0]) == corpus[cut : cut + block]
    assert task.decode(task.test.targets[-1]) == corpus[-block:]
    assert task.counted("train").all() and task.block_size == block


def test_text_rows_are_read_only_views(pydoc_text):
    with pytest.raises(ValueError, match="read-only"):
        pydoc_text.train.inputs[0, 0] = 1
    batch = pydoc_text.sample(16, seed=0)
    assert batch.inputs.flags.c_contiguous and batch.inputs.flags.writeable
    row = batch.inputs[3]
    assert pydoc_text.encode(pydoc_text.decode(row)).tolist() == row.tolist()


def test_text_is_deterministic(pydoc_text):
    again = tasks.text(block_size=32)
    assert np.array_equal(again.test.inputs, pydoc_text.test.inputs)
    assert again.vocab == pydoc_text.vocab


# --- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: tasks.copy(length=0), ValueError, "length: expected an int >= 1, got 0"),
        (lambda: tasks.reverse(length=-3), ValueError, "length"),
        (lambda: tasks.copy(length=2.0), TypeError, "length: expected an int, got float"),
        (lambda: tasks.sort(vocab_size=1), ValueError, "vocab_size: expected an int >= 2, got 1"),
        (lambda: tasks.copy(format="lm2"), ValueError, r"format: expected one of \('lm', 'seq2"),
        (lambda: tasks.copy(seed=-1), ValueError, "seed"),
        (lambda: tasks.copy(n_train=0), ValueError, "n_train: expected an int >= 1"),
        (lambda: tasks.copy(n_test="5"), TypeError, "n_test"),
        (
            lambda: tasks.copy(length=2, vocab_size=3, n_train=8, n_test=2),
            ValueError,
            r"n_train \+ n_test: these options allow 9 distinct rows",
        ),
        (lambda: tasks.reverse(length=1, vocab_size=2), ValueError, r"n_train \+ n_test"),
        (lambda: tasks.add(0), ValueError, "n_digits"),
        (lambda: tasks.add(19), ValueError, "n_digits: expected an int <= 18"),
        (lambda: tasks.add(format="tagging"), ValueError, "format"),
        (lambda: tasks.modular_add(1), ValueError, "p: expected an int >= 2"),
        (lambda: tasks.modular_add(7, train_fraction=1.0), ValueError, "train_fraction"),
        (lambda: tasks.modular_add(7, train_fraction="half"), TypeError, "train_fraction"),
        (lambda: tasks.induction(7), ValueError, "length: expected an even int, got 7"),
        (lambda: tasks.induction(2), ValueError, "length: expected an int >= 4"),
        (lambda: tasks.induction(32, 15), ValueError, r"vocab_size: expected >= 16 \(the 16 "),
        (lambda: tasks.induction(32, 20, min_period=8), ValueError, r"vocab_size: expected >= 24"),
        (lambda: tasks.induction(32, min_period=1), ValueError, "min_period: expected an int >= 2"),
        (
            lambda: tasks.induction(32, min_period=17),
            ValueError,
            r"min_period: expected <= length // 2 = 16, got 17",
        ),
        (lambda: tasks.induction(32, min_period=8.0), TypeError, "min_period"),
        (lambda: tasks.histogram(0), ValueError, "length"),
        (lambda: tasks.histogram(4, 0), ValueError, "vocab_size"),
        (lambda: tasks.dyck(9), ValueError, "length: expected an even int"),
        (lambda: tasks.dyck(8, 3), ValueError, "kinds: expected 1 or 2, got 3"),
        (lambda: tasks.dyck(8, 0), ValueError, "kinds"),
        (lambda: tasks.text("poems"), ValueError, r"name: expected one of \('pydoc_topics',\)"),
        (lambda: tasks.text(block_size=0), ValueError, "block_size"),
        (lambda: tasks.text(block_size=10**6), ValueError, "block_size: 1000000 leaves no window"),
        (lambda: tasks.text(test_fraction=1), ValueError, r"test_fraction: expected .* \(0, 1\)"),
    ],
)
def test_bad_arguments_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_too_small_a_space_for_distinct_rows_is_an_error_not_a_hang():
    from attnlab.data.tasks._rows import distinct_rows

    def draw(rng, m):  # only two distinct rows exist
        return rng.integers(0, 2, (m, 1))

    assert sorted(distinct_rows(draw, 2, np.random.default_rng(0)).ravel()) == [0, 1]
    with pytest.raises(ValueError, match=r"n_train \+ n_test: found only 2 distinct rows of the 3"):
        distinct_rows(draw, 3, np.random.default_rng(0))


def test_every_generator_is_exported_and_defaults_are_sized():
    assert sorted(tasks.__all__) == sorted(
        [
            "add",
            "copy",
            "dyck",
            "histogram",
            "induction",
            "modular_add",
            "python_tags",
            "reverse",
            "sort",
            "text",
        ]
    )
    assert al.data.tasks is tasks
    task = tasks.reverse()
    assert (len(task.train), len(task.test), task.block_size) == (10_000, 1_000, 16)
