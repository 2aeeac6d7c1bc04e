"""Minimal-pair evaluation of a language model (BLiMP-style).

    zoo evaluate-pairs RUN_DIR pairs.jsonl [--out results.json]

Each line of the JSONL file is an object with a grammatical and an
ungrammatical sentence, `good`/`bad` (or BLiMP's `sentence_good`/
`sentence_bad`), and an optional `category` (BLiMP's `UID`, `phenomenon`
or `field` are used when `category` is absent). The model gets a pair right
when it gives the good sentence the higher total log-probability.

Tokenisation follows the run's `level`:

- word: the sentence is split on whitespace (nothing else: no lower-casing,
  no punctuation splitting, matching PTB-style pre-tokenised text); each
  token is looked up in `vocab.txt`; an unknown token becomes `<unk>` if the
  vocabulary has it, otherwise it is an error naming the token. Following
  the PTB convention, `<eos>` (when in the vocabulary) is prepended as the
  context for the first word and appended, so the score is
  `log p(w_1 .. w_n, <eos> | <eos>)`.
- char: one token per character (`<unk>` for unknown characters if the
  vocabulary has it); no boundary tokens are added, so the first character
  is not scored (there is no context to predict it from); the same holds for
  both sentences of a pair.

The score is the sum over predicted positions of `log softmax(logits)` at
the next token, in float64.
"""

import argparse
import json
import os
import sys

import numpy as np

UNK = "<unk>"
EOS = "<eos>"
GOOD_KEYS = ("good", "sentence_good")
BAD_KEYS = ("bad", "sentence_bad")
CATEGORY_KEYS = ("category", "UID", "phenomenon", "field")


class PairsError(ValueError):
    """A malformed pairs file or a sentence the vocabulary cannot encode."""


def tokenize(text, vocab, level="word", add_eos=True, where=None):
    """Token ids of `text` for a run's vocabulary (see the module doc).

    Args:
        text: a sentence (or a whole text).
        vocab: list of tokens (line order of `vocab.txt`) or a dict
            token -> id.
        level: `"word"` or `"char"`.
        add_eos: word level: surround with `<eos>` when it is in the vocab.
        where: prefix for error messages (e.g. `"pairs.jsonl:3"`).

    Raises:
        PairsError: an out-of-vocabulary token and no `<unk>`.
    """
    index = vocab if isinstance(vocab, dict) else {t: i for i, t in
                                                     enumerate(vocab)}
    if level == "word":
        tokens = text.split()
        if add_eos and EOS in index:
            tokens = [EOS] + tokens + [EOS]
    elif level == "char":
        tokens = list(text)
    else:
        raise PairsError(f"Unknown level {level!r}: 'word' or 'char'.")
    ids = []
    for tok in tokens:
        if tok in index:
            ids.append(index[tok])
        elif UNK in index:
            ids.append(index[UNK])
        else:
            prefix = f"{where}: " if where else ""
            raise PairsError(
                f"{prefix}token {tok!r} is not in the vocabulary and the "
                f"vocabulary has no {UNK!r} token.")
    return np.asarray(ids, np.int32)


def read_pairs(path):
    """Parses a pairs JSONL file into `[{"good", "bad", "category", "line"}]`.

    Blank lines are skipped. Raises `PairsError` naming the file and line of
    the first malformed line.
    """
    pairs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise PairsError(f"{where}: not valid JSON ({e.msg}).") from None
            if not isinstance(obj, dict):
                raise PairsError(f"{where}: expected a JSON object.")
            good = next((obj[k] for k in GOOD_KEYS if k in obj), None)
            bad = next((obj[k] for k in BAD_KEYS if k in obj), None)
            if not isinstance(good, str) or not isinstance(bad, str):
                raise PairsError(
                    f"{where}: needs string fields 'good' and 'bad' (or "
                    f"'sentence_good' and 'sentence_bad'); got keys "
                    f"{sorted(obj)}.")
            if not good.strip() or not bad.strip():
                raise PairsError(f"{where}: empty sentence.")
            category = next((obj[k] for k in CATEGORY_KEYS if k in obj), None)
            pairs.append({"good": good, "bad": bad,
                          "category": None if category is None
                          else str(category), "line": n})
    if not pairs:
        raise PairsError(f"{path}: no pairs.")
    return pairs


def sequence_logprobs(model, sequences, batch_size=64):
    """Total log-probability of each id sequence under an LM (float64).

    `log p = sum_{t>=1} log softmax(model(ids[:-1]))[t-1, ids[t]]`. Sequences
    of equal length are batched together (no padding, so no masking).
    """
    scores = np.zeros(len(sequences), np.float64)
    by_len = {}
    for i, s in enumerate(sequences):
        by_len.setdefault(len(s), []).append(i)
    for length, idx in by_len.items():
        if length < 2:
            continue  # nothing to predict
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            ids = np.stack([sequences[i] for i in chunk]).astype(np.int32)
            logits = np.asarray(model(ids[:, :-1], training=False),
                                np.float64)
            logits -= logits.max(axis=-1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
            tgt = ids[:, 1:]
            picked = np.take_along_axis(logp, tgt[..., None], axis=-1)[..., 0]
            scores[chunk] = picked.sum(axis=1)
    return scores


def evaluate_pairs(model, vocab, pairs, level="word", batch_size=64,
                   source="pairs"):
    """Accuracy of an LM on minimal pairs.

    Args:
        model: a language model (ids `(batch, time)` -> logits).
        vocab: the run's vocabulary (list of tokens).
        pairs: output of `read_pairs`, or dicts with `good`, `bad`,
            optional `category`.
        level: `"word"` or `"char"`.

    Returns:
        `{"accuracy", "count", "by_category": {cat: {"accuracy", "count"}},
        "pairs": [{line, category, good_logprob, bad_logprob, correct}]}`.
        Ties count as wrong.
    """
    index = {t: i for i, t in enumerate(vocab)}
    seqs = []
    for k, p in enumerate(pairs):
        where = f"{source}:{p.get('line', k + 1)}"
        seqs.append(tokenize(p["good"], index, level, where=where))
        seqs.append(tokenize(p["bad"], index, level, where=where))
    scores = sequence_logprobs(model, seqs, batch_size)
    rows = []
    for k, p in enumerate(pairs):
        g, b = scores[2 * k], scores[2 * k + 1]
        rows.append({"line": p.get("line", k + 1),
                     "category": p.get("category"),
                     "good_logprob": float(g), "bad_logprob": float(b),
                     "correct": bool(g > b)})
    cats = {}
    for r in rows:
        if r["category"] is not None:
            cats.setdefault(r["category"], []).append(r["correct"])
    return {
        "accuracy": float(np.mean([r["correct"] for r in rows])),
        "count": len(rows),
        "by_category": {c: {"accuracy": float(np.mean(v)), "count": len(v)}
                        for c, v in sorted(cats.items())},
        "pairs": rows,
    }


def _run_level(model, config):
    level = getattr(model, "level", None)
    if level:
        return level
    return config.get("level") or \
        (config.get("model_config") or {}).get("level", "word")


def evaluate_run(run_dir, pairs_path, batch_size=64, out=None):
    """`zoo evaluate-pairs` as a function: loads the run, scores, writes JSON.

    Writes to `out` (default `RUN_DIR/pairs_<stem>.json`) and returns the
    result dict (with `run_dir`, `pairs_file`, `level`, `tokenisation`).
    """
    from training.diagnostics import load_run
    from training.diagnostics import write_json

    pairs = read_pairs(pairs_path)
    model, config, vocab = load_run(run_dir)
    family = config.get("family", "language_model")
    if family != "language_model":
        raise PairsError(f"{run_dir}: family {family!r} is not a language "
                         "model.")
    if vocab is None:
        raise PairsError(f"{run_dir}: no vocab.txt in the run directory.")
    if getattr(model, "stateful", False) and hasattr(model, "with_options"):
        model = model.with_options(stateful=False)
    level = _run_level(model, config)
    result = evaluate_pairs(model, vocab, pairs, level, batch_size,
                            source=pairs_path)
    eos = EOS in vocab
    result = {
        "run_dir": os.path.abspath(run_dir),
        "pairs_file": os.path.abspath(pairs_path),
        "level": level,
        "tokenisation": (
            "whitespace split; OOV -> <unk>" + (
                "; <eos> prepended and appended" if eos else
                "; no <eos> in vocab, first token unscored")
            if level == "word" else "characters; first character unscored"),
        **result,
    }
    out = out or os.path.join(
        run_dir, "pairs_" + os.path.splitext(os.path.basename(pairs_path))[0]
        + ".json")
    write_json(out, result)
    result["output"] = out
    return result


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo evaluate-pairs",
        description="Minimal-pair accuracy of a language model: the share "
        "of pairs whose good sentence gets the higher total log-probability.")
    p.add_argument("run_dir", help="run directory (model.keras, config.json, "
                   "vocab.txt)")
    p.add_argument("pairs", help="JSONL file: one {\"good\", \"bad\", "
                   "\"category\"?} object per line (sentence_good/"
                   "sentence_bad accepted)")
    p.add_argument("--out", help="JSON output (default RUN_DIR/"
                   "pairs_<file stem>.json)")
    p.add_argument("--batch-size", type=int, default=64)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        result = evaluate_run(args.run_dir, args.pairs, args.batch_size,
                              args.out)
    except (PairsError, FileNotFoundError) as e:
        print(f"zoo evaluate-pairs: error: {e}", file=sys.stderr)
        return 2
    print(f"accuracy {result['accuracy']:.4f} on {result['count']} pairs "
          f"({result['level']} level; {result['tokenisation']})")
    for cat, v in result["by_category"].items():
        print(f"  {cat:<40} {v['accuracy']:.4f}  (n={v['count']})")
    print(f"written: {result['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
