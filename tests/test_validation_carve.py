"""Honest validation: a separate validation file (`--validation-data`), a
carve by group (`--validation-group`), aclImdb movie ids, and the errors."""

import csv
import json
import os

import numpy as np
import pytest

import training
from training import cli_train
from training import run_dir as rd
from training.data import DataError, load_text_classification
from training.data.text_classification import split_validation_by_group

from tests._files import sentiment_tsv, write

TINY = {"units": 4, "embedding_dim": 4, "vocabulary_size": 40, "num_layers": 1,
        "max_length": 8}


def grouped_csv(path, groups=40, per_group=5, single_class_groups=True):
    """Reviews of `groups` movies; each movie's reviews share one label when
    `single_class_groups` (as IMDB movies mostly do not, but it is the hard
    case for stratification)."""
    rows = []
    for g in range(groups):
        for k in range(per_group):
            lab = g % 2 if single_class_groups else (g + k) % 2
            word = ["awful", "lovely"][lab]
            rows.append([str(lab), f"tt{g:04d}", f"{word} film number {g} {k}"])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "movie", "text"])
        w.writerows(rows)
    return str(path)


def test_grouped_carve_keeps_groups_apart_and_is_reproducible(tmp_path):
    path = grouped_csv(tmp_path / "g.csv", single_class_groups=False)
    a = load_text_classification(path, validation_group="movie",
                                 validation_split=0.25, seed=7)
    b = load_text_classification(path, validation_group="movie",
                                 validation_split=0.25, seed=7)
    c = load_text_classification(path, validation_group="movie",
                                 validation_split=0.25, seed=8)

    def movies(part):
        return {t.split()[3] for t in part.texts}

    assert not movies(a.train) & movies(a.validation)
    assert len(a.train) + len(a.validation) == 200
    assert a.validation.texts == b.validation.texts
    assert a.train.texts == b.train.texts
    assert movies(c.validation) != movies(a.validation)
    # stratified as far as groups allow: both classes near a quarter
    counts = np.bincount(a.validation.labels, minlength=2)
    assert np.all(np.abs(counts - 25) <= 5), counts
    assert a.validation_carve == {
        "how": a.validation_carve["how"], "fraction": 0.25, "group": "movie"}
    assert a.counts["validation_groups"] + a.counts["train_groups"] == 40


def test_split_validation_by_group_on_numpy():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 300, 3000).astype(str)
    labels = rng.integers(0, 2, 3000)
    tr, va = split_validation_by_group(labels, groups, 0.1, seed=3)
    assert len(set(tr) | set(va)) == 3000 and not set(tr) & set(va)
    assert not set(groups[tr]) & set(groups[va])
    for c in (0, 1):
        share = np.sum(labels[va] == c) / np.sum(labels == c)
        assert abs(share - 0.1) < 0.02


def test_validation_group_errors_name_the_file_and_columns(tmp_path):
    path = grouped_csv(tmp_path / "g.csv")
    with pytest.raises(DataError, match=r"g\.csv.*no group column 'film'.*"
                       r"'label', 'movie', 'text'.*--validation-group"):
        load_text_classification(path, validation_group="film")
    one = tmp_path / "one.csv"
    write(one, "label,movie,text\n0,tt1,bad\n1,tt1,good\n0,tt1,dull\n")
    with pytest.raises(DataError, match=r"one\.csv.*1 distinct value"):
        load_text_classification(str(one), validation_group="movie")
    # two movies, each of one class: a carve must take a whole class away
    two = tmp_path / "two.csv"
    write(two, "label,movie,text\n0,tt1,bad\n0,tt1,dull\n1,tt2,good\n1,tt2,fine\n")
    with pytest.raises(DataError, match=r"two\.csv.*leaves class.*no example"):
        load_text_classification(str(two), validation_group="movie",
                                 validation_split=0.5)
    # a group with nothing to carve is a contradiction, not a silent no-op
    with pytest.raises(ValueError, match=r"validation_split=0 carves nothing"):
        load_text_classification(path, validation_group="movie",
                                 validation_split=0.0)
    # and `zoo train` says so before the run directory is made
    with pytest.raises(ValueError, match=r"--validation-split 0 carves nothing"):
        training.train("sentiment_classifier", path, out=str(tmp_path / "r"),
                       validation_group="movie", validation_split=0)
    assert not (tmp_path / "r").exists()
    # a language model holds out its corpus' end: the flags are refused,
    # before the run directory too
    corpus = write(tmp_path / "lm.txt", "the film was good\n" * 40)
    for flags in ({"validation_group": "movie"},
                  {"validation_group": "movie", "validation_split": 0},
                  {"validation_data": path}):
        with pytest.raises(ValueError, match="apply to classifiers"):
            training.train("language_model", str(corpus),
                           out=str(tmp_path / "r"), **flags)
        assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag, value", [("--seed", "-1"),
                                         ("--seed", "4294967296"),
                                         ("--validation-seed", "-3"),
                                         ("--leave-out-seed", "99999999999")])
def test_seeds_numpy_cannot_take_are_refused_before_the_run_dir(
        tmp_path, capsys, flag, value):
    path = grouped_csv(tmp_path / "g.csv")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        cli_train.main(["sentiment_classifier", "--data", path, "--out",
                        str(out), flag, value])
    assert e.value.code == 2
    assert "from 0 to 4294967295" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="Received: seed=-1"):
        training.train("sentiment_classifier", path, out=str(out), seed=-1)
    assert not out.exists()


def test_validation_data_is_the_validation_split_and_never_trained_on(tmp_path):
    train = sentiment_tsv(tmp_path / "train.tsv", 60)
    dev = tmp_path / "dev.tsv"
    write(dev, "sentence\tlabel\nquite a dev sentence\t1\nanother dev one\t0\n")
    data = load_text_classification(train, validation_data=str(dev))
    assert data.validation.texts == ["quite a dev sentence", "another dev one"]
    assert list(data.validation.labels) == [1, 0]
    assert len(data.train) == 60  # nothing carved off
    assert not set(data.validation.texts) & set(data.train.texts)
    assert data.counts["validation_texts_also_in_train"] == 0
    assert data.validation_carve["validation_data"] == str(dev)
    other = load_text_classification(train)
    assert other.fingerprint != data.fingerprint

    out = str(tmp_path / "run")
    result = training.train("sentiment_classifier", train, out=out, epochs=1,
                            batch_size=16, overrides=TINY, verbose=0,
                            validation_data=str(dev))
    assert result.metrics["validation"]["num_examples"] == 2
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    assert config["data"]["validation"]["validation_data"] == str(dev)
    # the vocabulary is learned from train only: dev-only words are OOV
    vocab = set(result.run.load_model().get_vocabulary())
    assert "quite" not in vocab and "dev" not in vocab
    again = training.evaluate(out, train)
    assert again["num_examples"] == 2
    assert again["accuracy"] == pytest.approx(
        result.metrics["validation"]["accuracy"])


def test_validation_data_with_unknown_labels_is_a_data_error(tmp_path):
    train = sentiment_tsv(tmp_path / "train.tsv", 20)
    dev = tmp_path / "dev.tsv"
    write(dev, "sentence\tlabel\nok\t7\n")
    with pytest.raises(DataError, match=r"dev\.tsv, line 2: label '7'"):
        load_text_classification(train, validation_data=str(dev),
                                 class_names=["0", "1"])


def test_aclimdb_movie_groups_from_urls_files(tmp_path):
    root = tmp_path / "aclImdb"
    for cls, lab in (("pos", 9), ("neg", 2)):
        urls = []
        for i in range(8):
            write(root / "train" / cls / f"{i}_{lab}.txt", f"{cls} review {i}")
            urls.append(f"http://www.imdb.com/title/tt{i // 2:07d}/usercomments")
        write(root / "train" / f"urls_{cls}.txt", "\n".join(urls) + "\n")
    data = load_text_classification(str(root), validation_group="movie",
                                     validation_split=0.25, seed=1)
    # pos/neg review i and i^1 share movie tt{i//2}; a movie's reviews of
    # both classes stay together
    def movie(t):
        return int(t.split()[-1]) // 2

    assert not ({movie(t) for t in data.train.texts} &
                {movie(t) for t in data.validation.texts})
    assert data.validation_carve["group"] == "movie"
    os.remove(root / "train" / "urls_neg.txt")
    with pytest.raises(DataError, match="urls_neg.txt"):
        load_text_classification(str(root), validation_group="movie")
    with pytest.raises(DataError, match="one group column, 'movie'"):
        load_text_classification(str(root), validation_group="title")


def test_cli_flags_and_errors(tmp_path, capsys):
    path = grouped_csv(tmp_path / "g.csv")
    code = cli_train.main(["sentiment_classifier", "--data", path, "--out",
                           str(tmp_path / "r"), "--validation-group", "nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no group column 'nope'" in err and "'movie'" in err
    with pytest.raises(SystemExit):  # argparse: mutually exclusive
        cli_train.main(["sentiment_classifier", "--data", path, "--out",
                        str(tmp_path / "r"), "--validation-group", "movie",
                        "--validation-data", path])
    code = cli_train.main(["sentiment_classifier", "--data", path, "--out",
                           str(tmp_path / "r2"), "--recipe", "bogus=1"])
    assert code == 2 and "Unknown training setting(s) ['bogus']" in \
        capsys.readouterr().err


def test_steps_per_epoch_and_one_cycle_through_recipe_settings(tmp_path):
    train = sentiment_tsv(tmp_path / "train.tsv", 40)
    result = training.train(
        "sentiment_classifier", train, out=str(tmp_path / "s"), epochs=3,
        batch_size=16, overrides=TINY, verbose=0, validation_split=0.25,
        settings={"steps_per_epoch": 5, "lr_schedule": "one_cycle",
                  "layer_lr_decay": 2.0, "unfreeze_steps": 4})
    # 30 training texts = 2 batches a pass; 3 "epochs" of 5 steps each
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    assert all("val_accuracy" in row for row in result.history)
    with open(os.path.join(result.run_dir, "config.json")) as f:
        training_config = json.load(f)["training"]
    assert training_config["steps_per_epoch"] == 5
    assert training_config["lr_schedule"] == "one_cycle"
    lrs = [row["learning_rate"] for row in result.history]
    assert lrs[0] > lrs[-1]  # annealed over the 15 steps
    with pytest.raises(ValueError, match="twice"):
        training.train("sentiment_classifier", train, out=str(tmp_path / "t"),
                       epochs=1, settings={"epochs": 2}, verbose=0)


@pytest.mark.parametrize("group", ["movie", None])
def test_validation_seed_keeps_one_carve_across_seeds(tmp_path, group):
    path = grouped_csv(tmp_path / "g.csv", single_class_groups=False)
    common = dict(validation_split=0.2, validation_group=group)
    own = load_text_classification(path, seed=5, **common)
    a = load_text_classification(path, seed=1, validation_seed=5, **common)
    b = load_text_classification(path, seed=2, validation_seed=5, **common)
    other = load_text_classification(path, seed=1, **common)
    # seed 5's carve, whatever the run's seed
    assert a.validation.texts == b.validation.texts == own.validation.texts
    assert set(a.train.texts) == set(b.train.texts) == set(own.train.texts)
    assert set(other.validation.texts) != set(own.validation.texts)
    # the train order still follows the run's seed
    assert a.train.texts != b.train.texts
    assert a.validation_carve["seed"] == 5 and "seed" not in own.validation_carve
    assert "default_rng(seed=5)" in a.description
    # the run's own seed as the carve's: the same data as without it
    same = load_text_classification(path, seed=5, validation_seed=5, **common)
    assert same.train.texts == own.train.texts
    assert same.validation.texts == own.validation.texts


def test_validation_seed_errors_where_nothing_is_carved(tmp_path):
    path = grouped_csv(tmp_path / "g.csv")
    dev = grouped_csv(tmp_path / "dev.csv", groups=4)
    for kw in (dict(validation_data=dev), dict(validation_split=0.0)):
        with pytest.raises(ValueError, match="nothing is carved"):
            load_text_classification(path, validation_seed=3, **kw)
    with pytest.raises(ValueError, match="--validation-data is a separate set"):
        training.train("sentiment_classifier", path, out=str(tmp_path / "v"),
                       validation_data=dev, validation_seed=3, verbose=0)
    with pytest.raises(ValueError, match="--validation-split 0 carves nothing"):
        training.train("sentiment_classifier", path, out=str(tmp_path / "v"),
                       validation_split=0, validation_seed=3, verbose=0)
    with pytest.raises(ValueError, match="is a language_model"):
        training.train("ptb_small", path, out=str(tmp_path / "l"),
                       validation_seed=3, verbose=0)
    assert not os.path.exists(tmp_path / "v")
    assert not os.path.exists(tmp_path / "l")


def test_validation_seed_is_recorded_resumed_and_evaluated(tmp_path, capsys):
    path = grouped_csv(tmp_path / "g.csv", single_class_groups=False)
    out = str(tmp_path / "r")
    code = cli_train.main([
        "sentiment_classifier", "--data", path, "--out", out, "--epochs", "1",
        "--batch-size", "16", "--verbose", "0", "--seed", "2",
        "--validation-group", "movie", "--validation-seed", "9",
        *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]])
    assert code == 0, capsys.readouterr().err
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    assert config["seed"] == 2
    assert config["data"]["validation"]["seed"] == 9
    run = rd.open_run(out)
    assert run.carve.seed == 9 and run.carve.group == "movie"
    carve9 = load_text_classification(path, seed=9, validation_group="movie")
    # zoo evaluate re-creates seed 9's carve, not seed 2's
    result = training.evaluate(out, path, split="validation")
    assert result["num_examples"] == len(carve9.validation)
    assert result["same_data_as_training"] is True
    assert config["data"]["counts"]["validation"] == len(carve9.validation)
    with pytest.raises(ValueError, match="the run's carve used seed 9"):
        training.train("sentiment_classifier", path, out=out, epochs=2,
                       resume=True, validation_seed=3, verbose=0)
    resumed = training.train("sentiment_classifier", path, out=out, epochs=2,
                             resume=True, verbose=0)
    assert resumed.metrics["epochs_completed"] == 2
    assert resumed.run.carve.seed == 9
