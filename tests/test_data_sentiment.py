"""Text classification loaders: CSV, TSV, aclImdb, errors, tf.data."""


import numpy as np
import pytest

from tests._files import write
from training.data import (
    DataError,
    auto_bucket_boundaries,
    load_text_classification,
    make_text_classification_dataset,
    resolve_source,
    split_validation,
)


def make_csv(tmp_path, n_pos=10, n_neg=10):
    rows = ["label,id,rating,text"]
    for i in range(n_pos):
        rows.append(f'1,{i},9,"great, ""fun"" film {i}<br />line two"')
    for i in range(n_neg):
        rows.append(f"0,{100 + i},2,bad film number {i}")
    return write(tmp_path / "train.csv", "\r\n".join(rows) + "\r\n")


def make_aclimdb(root, n=3):
    for split in ("train", "test"):
        for cls, rating in (("pos", 8), ("neg", 3)):
            for i in range(n):
                write(root / "aclImdb" / split / cls / f"{i}_{rating}.txt",
                      f"{split} {cls} review {i}<br />nice" if cls == "pos"
                      else f"{split} {cls} review {i} awful")
    write(root / "aclImdb" / "README", "readme")
    return root


# ------------------------------------------------------------------ sources


def test_resolve_source_kinds(tmp_path):
    csv_path = make_csv(tmp_path)
    assert resolve_source(str(csv_path)).kind == "csv"
    make_aclimdb(tmp_path / "dl")
    parent = resolve_source(str(tmp_path / "dl"))
    root = resolve_source(str(tmp_path / "dl" / "aclImdb"))
    assert parent.kind == root.kind == "aclimdb"
    assert parent.path == root.path == str(tmp_path / "dl" / "aclImdb")
    src = resolve_source("tfds:glue/sst2")
    assert (src.kind, src.tfds_name) == ("tfds", "glue/sst2")


def test_resolve_source_errors(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match="nope.csv.*does not exist"):
        resolve_source(str(missing))
    write(tmp_path / "x.json", "{}")
    with pytest.raises(DataError, match="unsupported file type '.json'"):
        resolve_source(str(tmp_path / "x.json"))
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="emptydir.*not a recognised dataset layout"):
        resolve_source(str(tmp_path / "emptydir"))
    with pytest.raises(DataError, match="missing dataset name"):
        resolve_source("tfds:")


# ------------------------------------------------------------------ CSV/TSV


def test_csv_quotes_newlines_and_stratified_split(tmp_path):
    make_csv(tmp_path)
    path = tmp_path / "train.csv"
    # a field with an embedded newline (RFC 4180)
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write('1,50,10,"multi\nline, review"\r\n')
    data = load_text_classification(str(path), validation_split=0.2, seed=7)
    assert data.class_names == ["0", "1"]
    texts = data.train.texts + data.validation.texts
    labels = np.concatenate([data.train.labels, data.validation.labels])
    assert len(texts) == 21
    assert 'great, "fun" film 3<br />line two' in texts
    assert "multi\nline, review" in texts
    for t, y in zip(texts, labels):
        assert y == (1 if ("great" in t or "multi" in t) else 0)
    # stratified: round(0.2 * 11) = 2 pos, round(0.2 * 10) = 2 neg
    assert sorted(data.validation.labels.tolist()) == [0, 0, 1, 1]
    assert data.counts == {"blank_lines_skipped": 0, "train": 17, "validation": 4}
    assert "seed=7" in data.description and "0.2" in data.description
    assert data.fingerprint.startswith("sha256:")
    # deterministic given the seed; a different seed carves differently
    again = load_text_classification(str(path), validation_split=0.2, seed=7)
    assert again.validation.texts == data.validation.texts
    assert again.train.texts == data.train.texts
    assert again.fingerprint == data.fingerprint
    other = load_text_classification(str(path), validation_split=0.2, seed=8)
    assert other.train.texts != data.train.texts


def test_fingerprint_changes_with_content(tmp_path):
    path = make_csv(tmp_path)
    a = load_text_classification(str(path)).fingerprint
    with open(path, "a", encoding="utf-8") as f:
        f.write("0,999,1,one more\n")
    assert load_text_classification(str(path)).fingerprint != a


def test_tsv_with_string_labels_and_columns(tmp_path):
    rows = ["id\treview\tsentiment"]
    for i in range(6):
        rows.append(f'{i}\tsaid "wow" {i}\tpositive')
        rows.append(f"{i}\tmeh {i}\tnegative")
    rows.insert(3, "")  # blank line: skipped and counted
    path = write(tmp_path / "data.tsv", "\n".join(rows) + "\n")
    data = load_text_classification(str(path), validation_split=0.0)
    assert data.class_names == ["negative", "positive"]
    assert data.validation is None
    assert data.counts["blank_lines_skipped"] == 1
    assert len(data.train) == 12
    for t, y in zip(data.train.texts, data.train.labels):
        assert y == (1 if "wow" in t else 0)
    assert any(t.startswith('said "wow"') for t in data.train.texts)


def test_declared_class_names_map_ints_and_names(tmp_path):
    path = make_csv(tmp_path, 4, 4)
    data = load_text_classification(str(path), class_names=["neg", "pos"],
                                    validation_split=0.0)
    assert data.class_names == ["neg", "pos"]
    for t, y in zip(data.train.texts, data.train.labels):
        assert y == (1 if "great" in t else 0)


def test_explicit_columns(tmp_path):
    path = write(tmp_path / "d.csv", "body,stars\nhello there,5\nbye now,1\nok,3\n")
    data = load_text_classification(str(path), text_column="body",
                                    label_column="stars", validation_split=0)
    assert data.class_names == ["1", "3", "5"]
    got = dict(zip(data.train.texts, data.train.labels.tolist()))
    assert got == {"hello there": 2, "bye now": 0, "ok": 1}


def test_classes_come_from_train_and_whole_number_labels_are_ints(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\nfun,1\ndull,0\nok,1.0\n")
    dev = write(tmp_path / "dev.csv", "text,label\ngreat,1.0\nbad,0.0\nmeh, 0\n")
    data = load_text_classification(str(train), validation_data=str(dev))
    assert data.class_names == ["0", "1"]
    for split, want in ((data.train, {"fun": 1, "dull": 0, "ok": 1}),
                        (data.validation, {"great": 1, "bad": 0, "meh": 0})):
        assert dict(zip(split.texts, split.labels.tolist())) == want


@pytest.mark.parametrize("dev_rows, pattern", [
    # a typo or another spelling in the dev file is not a class of its own
    ("great,postive\nbad,negative\n", r"dev.csv, line 2: label 'postive' is not one of "
     r"the classes \['negative', 'positive'\]"),
    ("great,positive\nbad,Negative\n", r"dev.csv, line 3: label 'Negative'"),
])
def test_a_validation_label_train_lacks_names_its_file_and_line(tmp_path, dev_rows, pattern):
    train = write(tmp_path / "train.csv",
                  "text,label\nfun,positive\ndull,negative\n")
    dev = write(tmp_path / "dev.csv", "text,label\n" + dev_rows)
    with pytest.raises(DataError, match=pattern):
        load_text_classification(str(train), validation_data=str(dev))


def test_integer_class_names_are_never_read_as_positions(tmp_path):
    # a 0-4 file against a run's 1-5 classes: '0' is no class (it used to
    # become class '1' by position, and '1' class '1' too)
    path = write(tmp_path / "d.csv", "text,label\nfine,1\nawful,0\n")
    with pytest.raises(DataError, match=r"d.csv, line 3: label '0' is not one of the "
                       r"classes \['1', '2', '3', '4', '5'\]"):
        load_text_classification(str(path), class_names=["1", "2", "3", "4", "5"],
                                 validation_split=0.0)


def test_integer_labels_meet_float_spelled_class_names_by_value(tmp_path):
    # a run trained when "1.0" was a class of its own keeps ['0.0', '1.0']
    path = write(tmp_path / "d.csv", "text,label\nfine,1\nawful,0\nok,1.0\n")
    data = load_text_classification(str(path), class_names=["0.0", "1.0"],
                                    validation_split=0.0)
    assert dict(zip(data.train.texts, data.train.labels.tolist())) == {
        "fine": 1, "awful": 0, "ok": 1}


def test_training_labels_of_one_value_are_refused(tmp_path):
    path = write(tmp_path / "pos.csv", "text,label\nfun,pos\ngreat,pos\n")
    with pytest.raises(DataError, match=r"pos.csv: the training examples have one label "
                       r"value only \('pos'\); a classifier needs two classes"):
        load_text_classification(str(path), validation_split=0.0)


# ------------------------------------------------------------------ malformed


@pytest.mark.parametrize(
    "content, kwargs, pattern",
    [
        ("words,label\nhi,1\n", {}, r"bad.csv, line 1: no text column 'text' / 'sentence' / 'review'.*columns found: 'words', 'label'. Name the text column 'text' in the header"),
        ("text,label,text\nhi,1,yo\n", {}, r"line 1: the header names the text column 'text' more than once"),
        ("Text,label,TEXT\nhi,1,yo\n", {}, r"names the text column 'text' more than once, as 'Text' and 'TEXT'"),
        ("text,y,y\nhi,1,0\n", {"label_column": "y"}, r"names the label column 'y' more than once"),
        ("text,label\nhi,1\n", {"label_column": "y"}, r"line 1: no label column 'y'"),
        ("text,label\nhi,1\nthere,0,extra\n", {}, r"bad.csv, line 3: expected 2 fields \(text, label\), found 3"),
        ("text,label\nhi,1\n\"open quote,0\n", {}, r"bad.csv, line 3: malformed CSV"),
        ("text,label\nhi,1\n  ,0\n", {}, r"bad.csv, line 3: empty text field 'text'"),
        ("text,label\nhi,1\nthere,\n", {}, r"bad.csv, line 3: empty label field"),
        ("text,label\nhi,0\nyo,1\n\"two\nlines\",maybe\n", {"class_names": ["neg", "pos"]},
         r"bad.csv, line 4: label 'maybe' is not one of the classes \['neg', 'pos'\]"),
        ("text,label\nhi,0\nyo,7\n", {"class_names": ["neg", "pos"]}, r"line 3: label '7'"),
        ("", {}, r"bad.csv: file is empty"),
        ("text,label\n", {}, r"bad.csv: no data rows"),
    ],
)
def test_malformed_csv(tmp_path, content, kwargs, pattern):
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(DataError, match=pattern) as info:
        load_text_classification(str(path), **kwargs)
    assert info.value.path.endswith("bad.csv")


def test_default_columns_match_in_any_case(tmp_path):
    path = write(tmp_path / "caps.csv",
                 "Id,Sentiment,Review\n1,pos,fun\n2,neg,dull\n3,pos,great\n")
    data = load_text_classification(str(path), validation_split=0.0)
    assert sorted(data.train.texts) == ["dull", "fun", "great"]
    assert data.class_names == ["neg", "pos"]
    # a name spelled exactly wins over any other case, as it always has
    path = write(tmp_path / "two.csv", "Text,label,text\nx,0,fun\ny,1,dull\n")
    data = load_text_classification(str(path), validation_split=0.0)
    assert sorted(data.train.texts) == ["dull", "fun"]
    path = write(tmp_path / "both.csv", "sentence,Text,Label,sentiment\n"
                 "fun,x,a,pos\ndull,y,b,neg\ngreat,z,c,pos\n")
    data = load_text_classification(str(path), validation_split=0.0)
    assert sorted(data.train.texts) == ["dull", "fun", "great"]
    assert data.class_names == ["neg", "pos"]


def test_bad_encoding_names_line_and_offset(tmp_path):
    path = write(tmp_path / "bad.csv", b"text,label\nfine,1\ncaf\xe9 latin1,0\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3: not valid UTF-8 at byte offset 21") as info:
        load_text_classification(str(path))
    assert info.value.line == 3


def test_bad_encoding_in_aclimdb_file(tmp_path):
    make_aclimdb(tmp_path)
    write(tmp_path / "aclImdb/train/neg/9_1.txt", b"ok\n\xff\xfe")
    with pytest.raises(DataError, match=r"9_1.txt, line 2: not valid UTF-8"):
        load_text_classification(str(tmp_path))


def test_txt_is_not_a_classification_source(tmp_path):
    path = write(tmp_path / "a.txt", "hello")
    with pytest.raises(DataError, match="not a text classification dataset"):
        load_text_classification(str(path))


# ------------------------------------------------------------------ aclImdb


def test_aclimdb_layout(tmp_path):
    make_aclimdb(tmp_path, n=5)
    data = load_text_classification(str(tmp_path / "aclImdb"), splits=("train", "validation", "test"),
                                    validation_split=0.2)
    assert data.class_names == ["neg", "pos"]
    assert data.counts == {"train": 8, "validation": 2, "test": 10}
    for split in (data.train, data.validation, data.test):
        for t, y in zip(split.texts, split.labels):
            assert y == (1 if " pos " in t else 0)
            assert t.startswith("test" if split is data.test else "train")
    assert sorted(data.validation.labels.tolist()) == [0, 1]
    assert "<br />" in " ".join(data.train.texts)
    # the parent folder gives the same data
    same = load_text_classification(str(tmp_path), splits=("train", "validation", "test"),
                                    validation_split=0.2)
    assert same.fingerprint == data.fingerprint
    assert same.train.texts == data.train.texts


def test_csv_has_no_test_split(tmp_path):
    with pytest.raises(DataError, match="no test split"):
        load_text_classification(str(make_csv(tmp_path)), splits=("train", "test"))


# ------------------------------------------------------------------ helpers


def test_split_validation_partitions():
    labels = np.array([0] * 30 + [1] * 70)
    tr, va = split_validation(labels, 0.1, seed=3)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    assert np.bincount(labels[va]).tolist() == [3, 7]
    tr2, va2 = split_validation(labels, 0.1, seed=3)
    assert tr.tolist() == tr2.tolist() and va.tolist() == va2.tolist()


def test_dataset_batches_and_shuffle(tmp_path):
    data = load_text_classification(str(make_csv(tmp_path)), validation_split=0)
    ds = make_text_classification_dataset(data.train, batch_size=6)
    batches = list(ds.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [6, 6, 6, 2]
    texts = [t.decode() for x, _ in batches for t in x]
    assert texts == data.train.texts  # no shuffle: data order
    assert batches[0][1].dtype == np.int32
    shuffled = make_text_classification_dataset(data.train, batch_size=20, shuffle=True, seed=1)
    x, y = next(iter(shuffled.as_numpy_iterator()))
    pairs = sorted(zip((t.decode() for t in x), y.tolist()))
    assert pairs == sorted(zip(data.train.texts, data.train.labels.tolist()))


def test_dataset_bucketing_groups_by_length():
    from training.data import LabeledTexts

    texts = ["a " * n for n in [1, 2, 1, 9, 10, 2, 11, 1, 12, 9]]
    data = LabeledTexts(texts, np.arange(10, dtype=np.int32) % 2)
    ds = make_text_classification_dataset(data, batch_size=3, shuffle=True, seed=0,
                                          bucket_boundaries=[5])
    seen = []
    for x, y in ds.as_numpy_iterator():
        lengths = [len(t.split()) for t in x]
        assert all(n < 5 for n in lengths) or all(n >= 5 for n in lengths)
        assert len(x) <= 3
        seen.extend(t.decode() for t in x)
    assert sorted(seen) == sorted(texts)
    assert auto_bucket_boundaries(texts, num_buckets=2) == [6]
