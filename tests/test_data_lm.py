"""Language-model loaders, vocabulary files and BPTT batching."""

import numpy as np
import pytest

from tests._files import write
from training.data import (
    DataError,
    Vocabulary,
    batchify,
    lm_steps_per_epoch,
    lm_windows,
    load_language_model,
    make_lm_dataset,
)


def make_ptb(root, test=False):
    write(root / "ptb.train.txt", " the cat sat\n the dog <unk> \n\n a cat\n")
    write(root / "ptb.valid.txt", " the bird sat\n")
    if test:
        write(root / "ptb.test.txt", " a dog\n zebra zebra\n")
    return root


# ------------------------------------------------------------------ word level


def test_ptb_word_level(tmp_path):
    make_ptb(tmp_path, test=True)
    data = load_language_model(str(tmp_path))
    assert data.level == "word"
    # counts: <eos> 4, the 2, cat 2, then count-1 tokens alphabetically
    assert data.vocab.tokens == ["<eos>", "cat", "the", "<unk>", "a", "dog", "sat"]
    assert data.vocab.oov_id == 3  # <unk> was in train: keeps its rank
    decode = data.vocab.decode
    assert decode(data.train) == ["the", "cat", "sat", "<eos>", "the", "dog", "<unk>",
                                  "<eos>", "<eos>", "a", "cat", "<eos>"]
    assert decode(data.validation) == ["the", "<unk>", "sat", "<eos>"]
    assert decode(data.test) == ["a", "dog", "<eos>", "<unk>", "<unk>", "<eos>"]
    assert data.train.dtype == np.int32
    assert data.counts["train_blank_lines"] == 1
    assert data.counts["train_lines"] == 4
    assert data.counts["train_oov"] == 0  # a literal <unk> is in the vocabulary
    assert data.counts["validation_oov"] == 1
    assert data.counts["test_oov"] == 2
    assert data.fingerprint.startswith("sha256:")
    assert "ptb.valid.txt" in data.description


def test_word_level_without_unk_in_train_appends_it(tmp_path):
    write(tmp_path / "x.train.txt", "b a b\n")
    write(tmp_path / "x.valid.txt", "c\n")
    data = load_language_model(str(tmp_path))
    assert data.vocab.tokens == ["b", "<eos>", "a", "<unk>"]
    assert data.vocab.decode(data.validation) == ["<unk>", "<eos>"]


def test_max_tokens_maps_rare_words_to_unk(tmp_path):
    write(tmp_path / "x.train.txt", "a a a b b c\n")
    write(tmp_path / "x.valid.txt", "c\n")
    data = load_language_model(str(tmp_path), max_tokens=3)
    assert data.vocab.tokens == ["a", "b", "<unk>"]  # <eos> (1) ties c (1) and loses
    assert data.vocab.decode(data.train)[-2:] == ["<unk>", "<unk>"]


def test_ptb_folder_needs_valid(tmp_path):
    write(tmp_path / "x.train.txt", "a\n")
    with pytest.raises(DataError, match=r"needs both \*.train.txt and \*.valid.txt"):
        load_language_model(str(tmp_path))


def test_ptb_bad_encoding_and_empty(tmp_path):
    write(tmp_path / "x.train.txt", b"ok line\nsecond\n\xc3\x28 bad\n")
    write(tmp_path / "x.valid.txt", "a\n")
    with pytest.raises(DataError, match=r"x.train.txt, line 3: not valid UTF-8 at byte offset 15"):
        load_language_model(str(tmp_path))
    write(tmp_path / "x.train.txt", "a\n")
    write(tmp_path / "x.valid.txt", "\n\n")
    with pytest.raises(DataError, match=r"x.valid.txt: file is empty"):
        load_language_model(str(tmp_path))


def test_given_vocab_is_used(tmp_path):
    make_ptb(tmp_path)
    vocab = Vocabulary(["the", "<eos>"])
    data = load_language_model(str(tmp_path), vocab=vocab)
    assert data.vocab is vocab
    assert data.vocab.decode(data.validation) == ["the", "<unk>", "<unk>", "<eos>"]
    assert "given" in data.description


# ------------------------------------------------------------------ char level


def test_char_level_split_and_oov(tmp_path):
    text = "abcabcabca" * 9 + "xyzxyzxyzx"  # 100 chars, xyz only in the last 10%
    path = write(tmp_path / "input.txt", text)
    data = load_language_model(str(path))
    assert data.level == "char"
    assert data.vocab.tokens == ["a", "b", "c", "<unk>"]
    assert len(data.train) == 90 and len(data.validation) == 10
    assert "".join(data.vocab.decode(data.train)) == text[:90]
    assert data.validation.tolist() == [data.vocab.oov_id] * 10
    assert data.counts["validation_oov"] == 10
    full = load_language_model(str(path), char_vocab_from="all", validation_fraction=0.2)
    assert full.vocab.tokens == list("abcxyz") + ["<unk>"]
    assert "".join(full.vocab.decode(np.concatenate([full.train, full.validation]))) == text
    assert len(full.validation) == 20


# ------------------------------------------------------------------ vocabulary


def test_vocab_round_trip_with_special_chars(tmp_path):
    vocab = Vocabulary(["\n", " ", "\\", "\\n", "\r", "é", "<eos>", "a\tb"])
    vocab.save(tmp_path)  # a folder: writes vocab.txt inside
    assert (tmp_path / "vocab.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.txt"]  # no temp left
    loaded = Vocabulary.load(tmp_path / "vocab.txt")
    assert loaded == vocab
    assert loaded.tokens[-1] == "<unk>" and loaded.oov_id == 8
    assert len((tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")) == 10
    ids = loaded.encode(["é", "nope", "\n"])
    assert ids.tolist() == [5, 8, 0]


def test_ptb_vocab_round_trip(tmp_path):
    make_ptb(tmp_path / "ptb")
    data = load_language_model(str(tmp_path / "ptb"))
    data.vocab.save(tmp_path / "vocab.txt")
    assert (tmp_path / "vocab.txt").read_text().splitlines()[:3] == ["<eos>", "cat", "the"]
    again = load_language_model(str(tmp_path / "ptb"), vocab=Vocabulary.load(tmp_path))
    assert again.train.tolist() == data.train.tolist()


def test_vocab_load_errors(tmp_path):
    write(tmp_path / "vocab.txt", "a\nb\na\n")
    with pytest.raises(DataError, match=r"vocab.txt, line 3: duplicate token 'a'"):
        Vocabulary.load(tmp_path / "vocab.txt")
    write(tmp_path / "vocab.txt", "a\n\nb\n")
    with pytest.raises(DataError, match=r"vocab.txt, line 2: empty vocabulary token"):
        Vocabulary.load(tmp_path / "vocab.txt")
    write(tmp_path / "vocab.txt", "a\r\n\r\nb\r\n")
    with pytest.raises(DataError, match=r"vocab.txt, line 2: empty vocabulary token"):
        Vocabulary.load(tmp_path / "vocab.txt")


def test_vocab_with_crlf_line_ends_reads_as_saved(tmp_path):
    vocab = Vocabulary(["<eos>", "the", "\r", "cat"])
    vocab.save(tmp_path)
    saved = (tmp_path / "vocab.txt").read_bytes()
    (tmp_path / "vocab.txt").write_bytes(saved.replace(b"\n", b"\r\n"))  # an editor's
    assert Vocabulary.load(tmp_path) == vocab  # the token "\r" is escaped, so kept


# ------------------------------------------------------------------ batching


@pytest.mark.parametrize("n, batch_size, bptt", [(103, 4, 5), (50, 1, 7), (40, 3, 11), (21, 2, 3)])
def test_lm_windows_cover_stream(n, batch_size, bptt):
    ids = np.arange(1000, 1000 + n)
    rows = batchify(ids, batch_size)
    length = n // batch_size
    assert rows.shape == (batch_size, length)
    assert rows.reshape(-1).tolist() == ids[: length * batch_size].tolist()

    for partial in (False, True):
        windows = lm_windows(ids, batch_size=batch_size, bptt=bptt, include_partial=partial)
        assert len(windows) == lm_steps_per_epoch(n, batch_size=batch_size, bptt=bptt,
                                                  include_partial=partial)
        for x, y in windows:
            assert x.shape == y.shape and x.shape[0] == batch_size
            assert x.shape[1] == bptt or (partial and x is windows[-1][0])
        for r in range(batch_size):
            xs = np.concatenate([x[r] for x, _ in windows])
            ys = np.concatenate([y[r] for _, y in windows])
            start = r * length
            # concatenating windows row by row gives back the stream
            assert xs.tolist() == ids[start: start + len(xs)].tolist()
            # targets are the inputs shifted by one
            assert ys.tolist() == ids[start + 1: start + 1 + len(ys)].tolist()
            if partial:  # the whole row is predicted
                assert len(xs) == length - 1
            else:
                assert len(xs) == (length - 1) // bptt * bptt


def test_lm_steps_and_exact_eval_with_batch_size_one():
    assert lm_steps_per_epoch(929589, batch_size=20, bptt=35) == 1327
    ids = np.arange(10)
    windows = lm_windows(ids, batch_size=1, bptt=4, include_partial=True)
    assert [x.tolist() for x, _ in windows] == [[[0, 1, 2, 3]], [[4, 5, 6, 7]], [[8]]]
    assert [y.tolist() for _, y in windows] == [[[1, 2, 3, 4]], [[5, 6, 7, 8]], [[9]]]


def test_make_lm_dataset_matches_numpy():
    ids = np.arange(47, dtype=np.int32)
    for partial in (False, True):
        ds = make_lm_dataset(ids, batch_size=3, bptt=4, include_partial=partial)
        got = list(ds.as_numpy_iterator())
        want = lm_windows(ids, batch_size=3, bptt=4, include_partial=partial)
        assert len(got) == len(want) == int(ds.cardinality())
        for (gx, gy), (wx, wy) in zip(got, want):
            assert gx.dtype == np.int32
            assert gx.tolist() == wx.tolist() and gy.tolist() == wy.tolist()
    assert len(want[-1][0][0]) == 2  # 15 per row -> 14 positions -> 3 full + 2


def test_batchify_too_short():
    with pytest.raises(ValueError, match="too few"):
        batchify(np.arange(5), 4)
