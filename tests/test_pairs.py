"""Minimal-pair evaluation of language models."""

import json

import numpy as np
import pytest

import zoo
from training import pairs as P

VOCAB = ["<unk>", "<eos>", "the", "cat", "cats", "sleeps", "sleep", "a"]


def _run(tmp_path, level="word", vocab=VOCAB):
    model = zoo.build("language_model", vocabulary_size=len(vocab),
                      embedding_dim=5, units=6, num_layers=1, cell="lstm",
                      level=level)
    run = tmp_path / f"run_{level}"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (run / "config.json").write_text(json.dumps(
        {"family": "language_model", "model_config": model.get_config(),
         "extra": 1}))
    return run, model


def _numpy_logprob(model, ids):
    logits = np.asarray(model(np.array([ids[:-1]], "int32")), np.float64)[0]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return sum(logp[t, ids[t + 1]] for t in range(len(ids) - 1))


def test_tokenize_word_and_char():
    assert P.tokenize("the cat", VOCAB).tolist() == [1, 2, 3, 1]
    assert P.tokenize("the dog", VOCAB).tolist() == [1, 2, 0, 1]
    assert P.tokenize("the cat", VOCAB, add_eos=False).tolist() == [2, 3]
    with pytest.raises(P.PairsError, match="'dog'"):
        P.tokenize("the dog", ["the", "cat"], where="f.jsonl:2")
    chars = ["<unk>", "a", "b"]
    assert P.tokenize("abz", chars, "char").tolist() == [1, 2, 0]


def test_scores_match_numpy_and_accuracy(tmp_path, capsys):
    run, model = _run(tmp_path)
    f = tmp_path / "pairs.jsonl"
    lines = [
        {"good": "the cat sleeps", "bad": "the cat sleep", "category": "agr"},
        {"sentence_good": "the cats sleep", "sentence_bad": "the cats sleeps",
         "UID": "agr"},
        {"good": "a cat", "bad": "a dog"},  # <unk> in the bad one
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    out = tmp_path / "res.json"
    assert P.main([str(run), str(f), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["count"] == 3 and res["level"] == "word"
    loaded = zoo.load(str(run / "model.keras"))
    correct = []
    for row, pair in zip(res["pairs"], lines):
        good = pair.get("good", pair.get("sentence_good"))
        bad = pair.get("bad", pair.get("sentence_bad"))
        g = _numpy_logprob(loaded, P.tokenize(good, VOCAB).tolist())
        b = _numpy_logprob(loaded, P.tokenize(bad, VOCAB).tolist())
        assert row["good_logprob"] == pytest.approx(g, rel=1e-5)
        assert row["bad_logprob"] == pytest.approx(b, rel=1e-5)
        correct.append(g > b)
    assert res["accuracy"] == pytest.approx(np.mean(correct))
    assert res["by_category"]["agr"]["count"] == 2
    assert res["by_category"]["agr"]["accuracy"] == pytest.approx(
        np.mean(correct[:2]))
    assert "accuracy" in capsys.readouterr().out


def test_hand_checkable_uniform_model():
    class Uniform:
        def __call__(self, ids, training=False):
            return np.zeros((*ids.shape, len(VOCAB)), np.float32)

    res = P.evaluate_pairs(Uniform(), VOCAB,
                           [{"good": "the cat", "bad": "the cat sleeps"}])
    row = res["pairs"][0]
    # <eos> the cat <eos>: 3 predictions of probability 1/8 each
    assert row["good_logprob"] == pytest.approx(3 * np.log(1 / 8))
    assert row["bad_logprob"] == pytest.approx(4 * np.log(1 / 8))
    assert res["accuracy"] == 1.0


def test_char_level_run(tmp_path):
    vocab = ["<unk>", " ", "a", "b", "c"]
    run, _ = _run(tmp_path, level="char", vocab=vocab)
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"good": "ab c", "bad": "ba c"}) + "\n")
    res = P.evaluate_run(str(run), str(f), out=str(tmp_path / "o.json"))
    assert res["level"] == "char" and res["count"] == 1


def test_malformed_jsonl_names_file_and_line(tmp_path, capsys):
    run, _ = _run(tmp_path)
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"good": "the cat", "bad": "a cat"}) + "\n"
                 "{not json\n")
    with pytest.raises(P.PairsError, match=r"bad\.jsonl:2"):
        P.read_pairs(str(f))
    assert P.main([str(run), str(f)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    f.write_text(json.dumps({"good": "the cat"}) + "\n")
    with pytest.raises(P.PairsError, match=r"bad\.jsonl:1.*'bad'"):
        P.read_pairs(str(f))


def test_oov_without_unk_is_an_error(tmp_path):
    vocab = ["<eos>", "the", "cat"]
    run, _ = _run(tmp_path, vocab=vocab)
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"good": "the cat", "bad": "the dog"}) + "\n")
    with pytest.raises(P.PairsError, match="'dog'"):
        P.evaluate_run(str(run), str(f))
