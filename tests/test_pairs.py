"""Minimal-pair evaluation of language models (`zoo evaluate-pairs`)."""

import json

import numpy as np
import pytest

import zoo
from training.data.vocab import Vocabulary
from training.lab import pairs as P

TOKENS = ["<unk>", "<eos>", "the", "cat", "cats", "sleeps", "sleep", "a"]
VOCAB = Vocabulary(TOKENS)


def _run(tmp_path, level="word", tokens=TOKENS):
    model = zoo.build("language_model", vocabulary_size=len(tokens),
                      embedding_dim=5, units=6, num_layers=1, cell="lstm",
                      level=level)
    run = tmp_path / f"run_{level}"
    run.mkdir()
    model.save(run / "model.keras")
    Vocabulary(tokens).save(run / "vocab.txt")
    (run / "config.json").write_text(json.dumps(
        {"family": "language_model", "model_config": model.get_config(),
         "extra": 1}))
    return run, model


def _numpy_logprobs(model, ids):
    """log p(ids[t] | ids[:t]) for t >= 1, from the model's logits."""
    logits = np.asarray(model(np.array([ids[:-1]], "int32")), np.float64)[0]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return np.array([logp[t, ids[t + 1]] for t in range(len(ids) - 1)])


def _ids(text):
    return [TOKENS.index("<eos>")] + [
        TOKENS.index(w) if w in TOKENS else 0 for w in text.split()]


def test_rules_match_numpy_and_accuracy(tmp_path, capsys):
    run, model = _run(tmp_path)
    f = tmp_path / "pairs.jsonl"
    lines = [
        {"good": "the cat sleeps", "bad": "the cat sleep", "category": "agr"},
        {"sentence_good": "the cats sleep", "sentence_bad": "the cats sleeps",
         "UID": "agr"},
        {"good": "a cat sleeps", "bad": "cat a sleeps"},  # differs early
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    out = tmp_path / "res.json"
    assert P.main([str(run), str(f), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["count"] == 3 and res["level"] == "word"
    assert res["rules"] == {"last-word": 2, "sentence": 1}
    assert [r["rule"] for r in res["pairs"]] == ["last-word", "last-word",
                                                  "sentence"]
    loaded = zoo.load(str(run / "model.keras"))
    eos = TOKENS.index("<eos>")
    correct = []
    for row, pair in zip(res["pairs"], lines):
        good = pair.get("good", pair.get("sentence_good"))
        bad = pair.get("bad", pair.get("sentence_bad"))
        if row["rule"] == "last-word":  # the last word after the prefix
            g = _numpy_logprobs(loaded, _ids(good))[-1]
            b = _numpy_logprobs(loaded, _ids(bad))[-1]
        else:  # whole sentences, <eos> appended and scored
            g = _numpy_logprobs(loaded, _ids(good) + [eos]).sum()
            b = _numpy_logprobs(loaded, _ids(bad) + [eos]).sum()
        assert row["good_logprob"] == pytest.approx(g, rel=1e-5)
        assert row["bad_logprob"] == pytest.approx(b, rel=1e-5)
        correct.append(g > b)
    assert res["accuracy"] == pytest.approx(np.mean(correct))
    assert res["by_category"]["agr"]["count"] == 2
    assert res["by_category"]["agr"]["accuracy"] == pytest.approx(
        np.mean(correct[:2]))
    out_text = capsys.readouterr().out
    assert "accuracy" in out_text and "last-word rule" in out_text


class Bigram:
    """A language model whose logits depend on the current token only."""

    def __init__(self, table):
        self.table = np.asarray(table, np.float32)

    def predict_on_batch(self, ids):
        return self.table[np.asarray(ids)]


def test_agreement_pairs_are_decided_by_the_last_word_not_by_eos():
    # "the keys are" is the grammatical one. The model prefers "are" after
    # "keys", but p(<eos> | is) > p(<eos> | are): appending <eos> (the old
    # behaviour) decides the pair wrongly.
    tokens = ["<unk>", "<eos>", "the", "keys", "are", "is"]
    vocab = Vocabulary(tokens)
    table = np.full((6, 6), -5.0)
    table[1, 2] = table[2, 3] = 0.0   # <eos> -> the -> keys
    table[3, 4], table[3, 5] = 0.0, -1.0   # keys: are (likelier) / is
    table[4, 1], table[5, 1] = -6.0, 3.0   # <eos> after are / is
    pair = [{"good": "the keys are", "bad": "the keys is"}]
    auto = P.evaluate_pairs(Bigram(table), vocab, pair)
    sentence = P.evaluate_pairs(Bigram(table), vocab, pair, rule="sentence")
    assert auto["pairs"][0]["rule"] == "last-word"
    assert auto["accuracy"] == 1.0
    assert sentence["accuracy"] == 0.0


def test_hand_checkable_uniform_model():
    uniform = Bigram(np.zeros((len(TOKENS), len(TOKENS))))
    res = P.evaluate_pairs(uniform, VOCAB,
                           [{"good": "the cat", "bad": "the cat sleeps"}])
    row = res["pairs"][0]
    assert row["rule"] == "sentence"  # different lengths
    # <eos> the cat <eos>: 3 predictions of probability 1/8 each
    assert row["good_logprob"] == pytest.approx(3 * np.log(1 / 8))
    assert row["bad_logprob"] == pytest.approx(4 * np.log(1 / 8))
    assert res["accuracy"] == 1.0
    with pytest.raises(P.PairsError, match="last-word rule needs"):
        P.evaluate_pairs(uniform, VOCAB, [{"good": "the cat", "bad": "a cat"}],
                         rule="last-word")


def test_char_level_run(tmp_path):
    tokens = ["<unk>", " ", "\n", "a", "b", "c"]
    run, model = _run(tmp_path, level="char", tokens=tokens)
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"good": "ab c", "bad": "ab b"}) + "\n"
                 + json.dumps({"good": "ab\nc", "bad": "ba\nc"}) + "\n"
                 # a trailing space: still the last word's one character
                 + json.dumps({"good": "ab c", "bad": "ab b "}) + "\n")
    res = P.evaluate_run(str(run), str(f), out=str(tmp_path / "o.json"))
    assert res["level"] == "char" and res["count"] == 3
    assert [r["rule"] for r in res["pairs"]] == ["last-word", "sentence",
                                                  "last-word"]
    assert res["pairs"][2]["bad_logprob"] == pytest.approx(
        res["pairs"][0]["bad_logprob"], rel=1e-6)
    loaded = zoo.load(str(run / "model.keras"))
    # First characters are predicted after "\n"; "\n" inside a text is its
    # own token (not <unk>).
    ids = [2] + [tokens.index(c) for c in "ab\nc"]
    assert res["pairs"][1]["good_logprob"] == pytest.approx(
        _numpy_logprobs(loaded, ids).sum(), rel=1e-5)
    last = _numpy_logprobs(loaded, [2] + [tokens.index(c) for c in "ab c"])
    assert res["pairs"][0]["good_logprob"] == pytest.approx(last[-1], rel=1e-5)


def test_the_rule_is_decided_on_the_tokens_the_model_reads():
    review = "lower_and_strip_punctuation"
    # standardised, "the cast is ..." ends in "is": not a last-word pair
    pair = {"good": "the cast is great", "bad": "the cast is ..."}
    assert P.pair_rule(pair) == "last-word"
    assert P.pair_rule(pair, standardize=review) == "sentence"
    pair = {"good": "The cast is GREAT!", "bad": "the cast is dull"}
    assert P.pair_rule(pair) == "sentence"
    assert P.pair_rule(pair, standardize=review) == "last-word"


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
    assert P.main([str(run), str(tmp_path / "missing.jsonl")]) == 2
    for argv in (["--batch-size", "0"], ["--batch-size", "-1"], ["--out", str(tmp_path)]):
        with pytest.raises(SystemExit) as e:  # before any scoring
            P.main([str(run), str(f), *argv])
        assert e.value.code == 2 and argv[0] in capsys.readouterr().err


def test_a_byte_order_mark_is_read_past(tmp_path):
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(
        {"good": "the cat", "bad": "a cat"}).encode() + b"\n")
    pairs = P.read_pairs(str(f))
    assert [(p["good"], p["bad"], p["line"]) for p in pairs] == [
        ("the cat", "a cat", 1)]


def test_a_vocabulary_larger_than_the_model_is_a_clear_error(tmp_path, capsys):
    tokens = ["<eos>", "the", "cat"]  # no <unk>: loading appends it
    run, _ = _run(tmp_path, tokens=tokens)
    (run / "vocab.txt").write_text("<eos>\nthe\ncat\n")
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"good": "the cat", "bad": "the dog"}) + "\n")
    assert P.main([str(run), str(f)]) == 2
    assert ("vocab.txt: 4 tokens, more than the model's vocabulary_size of 3 "
            "(config.json)") in capsys.readouterr().err


def test_a_classifier_run_is_refused(tmp_path, capsys):
    run = tmp_path / "clf"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"family": "sentiment_classifier", "model_config": {}}))
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"good": "a", "bad": "b"}) + "\n")
    assert P.main([str(run), str(f)]) == 2
    assert "not a language model" in capsys.readouterr().err
