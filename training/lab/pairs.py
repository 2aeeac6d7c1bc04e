"""Minimal-pair evaluation of a language model (`zoo evaluate-pairs`).

    zoo evaluate-pairs RUN_DIR pairs.jsonl [--rule auto|last-word|sentence]
        [--out results.json]

Each line of the JSONL file is an object with a grammatical and an
ungrammatical sentence, `good`/`bad` (or BLiMP's `sentence_good`/
`sentence_bad`), and an optional `category` (BLiMP's `UID`, `phenomenon`
or `field` are used when `category` is absent). The model gets a pair right
when it gives the good sentence the higher score; ties count as wrong.

Two rules decide a pair:

- `last-word`: for pairs that share a prefix and differ in their last word,
  the form agreement test sets use ("the keys to the cabinet ARE / IS"):
  the log-probability of that last word after the shared prefix, with no
  end of sentence, as Linzen et al. (2016) and Gulordava et al. (2018)
  compare them. Appending `<eos>` would let `p(<eos> | ... word)` decide.
- `sentence`: the log-probability of each whole sentence, `<eos>` included
  (BLiMP's rule, for pairs that differ anywhere).

`auto` (the default) takes `last-word` for a pair whose sentences have the
same words but the last, and `sentence` otherwise; the results say which
rule each pair got and how many got each. Tokenisation and the
log-probability of a text are `training.scoring`'s, the same as the
exported `score` signature's.
"""

import argparse
import json
import os
import sys

import numpy as np

from training import scoring
from training.cli_args import output_file, positive_int
from training.data.vocab import model_tokens, tokenize

GOOD_KEYS = ("good", "sentence_good")
BAD_KEYS = ("bad", "sentence_bad")
CATEGORY_KEYS = ("category", "UID", "phenomenon", "field")
RULES = ("auto", "last-word", "sentence")


class PairsError(ValueError):
    """A malformed pairs file, a bad rule or a run that is no language
    model."""


def read_pairs(path):
    """Parses a pairs JSONL file into `[{"good", "bad", "category", "line"}]`.

    Blank lines are skipped. Raises `PairsError` naming the file and line of
    the first malformed line.
    """
    pairs = []
    try:
        f = open(path, encoding="utf-8-sig")  # a BOM, as other readers
    except OSError as e:
        raise PairsError(f"{path}: cannot read the pairs file ({e.strerror})"
                         ) from None
    with f:
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


def differs_in_last_word(good, bad, standardize=None):
    """Whether two sentences have the same words but the last one, as the
    model reads them (a review LM's `standardize` drops punctuation, so
    `"the cast is ..."` ends in `is`)."""
    g = model_tokens(good, "word", standardize)
    b = model_tokens(bad, "word", standardize)
    return len(g) == len(b) >= 1 and g[:-1] == b[:-1] and g[-1] != b[-1]


def pair_rule(pair, rule="auto", standardize=None):
    """The rule that decides `pair`: `"last-word"` or `"sentence"`."""
    if rule not in RULES:
        raise PairsError(f"Unknown rule {rule!r}. Valid values: {list(RULES)}."
                         f" Received: rule={rule!r}")
    last = differs_in_last_word(pair["good"], pair["bad"], standardize)
    if rule == "last-word" and not last:
        raise PairsError(
            f"line {pair.get('line')}: the last-word rule needs two sentences "
            "with the same words but the last; use --rule sentence or auto. "
            f"Received: {pair['good']!r} / {pair['bad']!r}")
    if rule == "auto":
        return "last-word" if last else "sentence"
    return rule


def _scored(text, vocab, level, rule, standardize=None):
    """The ids of `text` for `rule`, and how many of its last ones count."""
    if rule == "sentence":
        ids = scoring.scoring_ids(text, vocab, level, append_end=True,
                                  standardize=standardize)
        return ids, len(ids) - 1
    ids = scoring.scoring_ids(text, vocab, level, append_end=False,
                              standardize=standardize)
    if level == "word":
        return ids, 1
    # Characters: the last word's, without the spaces after it (a trailing
    # space would count one sentence a character more than the other).
    text = text.rstrip()
    ids = scoring.scoring_ids(text, vocab, level, append_end=False,
                              standardize=standardize)
    return ids, len(tokenize(text, "word")[-1])


def evaluate_pairs(model, vocab, pairs, level="word", batch_size=64,
                   rule="auto", standardize=None):
    """Accuracy of a language model on minimal pairs.

    Args:
        model: a stateless language model (ids `(batch, time)` -> logits).
        vocab: the run's `Vocabulary`.
        pairs: output of `read_pairs`, or dicts with `good`, `bad`,
            optional `category` and `line`.
        level: `"word"` or `"char"`.
        batch_size: sequences per model call.
        rule: `"auto"`, `"last-word"` or `"sentence"` (module docstring).
        standardize: the run's standardisation (`Run.standardize`), for a
            model of standardised reviews.

    Returns:
        `{"accuracy", "count", "rules": {rule: count}, "by_category":
        {cat: {"accuracy", "count"}}, "pairs": [{line, category, rule,
        good_logprob, bad_logprob, correct}]}`.
    """
    rules = [pair_rule(p, rule, standardize) for p in pairs]
    seqs, counted = [], []
    for p, r in zip(pairs, rules):
        for text in (p["good"], p["bad"]):
            ids, n = _scored(text, vocab, level, r, standardize)
            seqs.append(ids)
            counted.append(n)
    logps = scoring.token_logprobs(model, seqs, batch_size)
    scores = [float(lp[len(lp) - n:].sum()) if n else 0.0
              for lp, n in zip(logps, counted)]
    rows = []
    for k, (p, r) in enumerate(zip(pairs, rules)):
        g, b = scores[2 * k], scores[2 * k + 1]
        rows.append({"line": p.get("line", k + 1), "category": p.get("category"),
                     "rule": r, "good_logprob": g, "bad_logprob": b,
                     "correct": bool(g > b)})
    cats = {}
    for r in rows:
        if r["category"] is not None:
            cats.setdefault(r["category"], []).append(r["correct"])
    return {
        "accuracy": float(np.mean([r["correct"] for r in rows])),
        "count": len(rows),
        "rules": {name: rules.count(name) for name in ("last-word", "sentence")
                  if name in rules},
        "by_category": {c: {"accuracy": float(np.mean(v)), "count": len(v)}
                        for c, v in sorted(cats.items())},
        "pairs": rows,
    }


def evaluate_run(run_dir, pairs_path, batch_size=64, out=None, rule="auto"):
    """`zoo evaluate-pairs` as a function: loads the run, scores, writes JSON.

    Writes to `out` (default `RUN_DIR/pairs_<stem>.json`) and returns the
    result dict (with `run_dir`, `pairs_file`, `level`, `rule`,
    `tokenisation`).

    Raises:
        PairsError: a malformed pairs file, a bad rule, or a run that is not
            a language model.
        training.run_dir.RunDirError: a missing or incomplete run.
    """
    from training import run_dir as rd
    from training.atomic import atomic_write_json

    pairs = read_pairs(pairs_path)
    run = rd.open_run(run_dir)
    if run.family != "language_model":
        raise PairsError(f"{run_dir}: a {run.family} run, not a language model.")
    if run.reverse:
        raise PairsError(
            f"{run_dir}: a backward language model (reverse=True) scores a "
            "sentence from its end; the pairs' rules (the last word after a "
            "shared prefix) read it forward. Received: a run with "
            "reverse=True")
    model = run.load_model()
    vocab, level = run.vocabulary, run.level
    result = evaluate_pairs(model, vocab, pairs, level, batch_size, rule=rule,
                            standardize=run.standardize)
    result = {
        "run_dir": os.path.abspath(run_dir),
        "pairs_file": os.path.abspath(pairs_path),
        "level": level,
        "rule": rule,
        "tokenisation": {
            "sentence": scoring.describe(vocab, level, append_end=True,
                                         standardize=run.standardize),
            "last-word": scoring.describe(vocab, level, append_end=False,
                                          standardize=run.standardize)
            + "; only the last word's tokens after the shared prefix count"},
        **result,
    }
    out = out or os.path.join(
        run_dir, "pairs_" + os.path.splitext(os.path.basename(pairs_path))[0]
        + ".json")
    atomic_write_json(out, result)
    result["output"] = out
    return result


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo evaluate-pairs",
        description="Minimal-pair accuracy of a language model: the share "
        "of pairs whose good sentence scores higher. Pairs that differ in "
        "their last word compare that word's log-probability after the "
        "shared prefix; other pairs compare whole sentences, <eos> included.")
    p.add_argument("run_dir", help="run directory (model.keras, config.json, "
                   "vocab.txt)")
    p.add_argument("pairs", help="JSONL file: one {\"good\", \"bad\", "
                   "\"category\"?} object per line (sentence_good/"
                   "sentence_bad accepted)")
    p.add_argument("--rule", choices=RULES, default="auto",
                   help="auto (default): last-word for pairs that differ in "
                   "their last word, sentence otherwise")
    p.add_argument("--out", type=output_file, help="JSON output (default RUN_DIR/"
                   "pairs_<file stem>.json)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    return p


def main(argv=None):
    from training.cli_args import error
    from training.run_dir import RunDirError

    args = build_parser().parse_args(argv)
    try:
        result = evaluate_run(args.run_dir, args.pairs, args.batch_size,
                              args.out, rule=args.rule)
    except (PairsError, RunDirError, ValueError, OSError) as e:
        return error("evaluate-pairs", e)
    rules = ", ".join(f"{n} by the {r} rule" for r, n in result["rules"].items())
    print(f"accuracy {result['accuracy']:.4f} on {result['count']} pairs "
          f"({result['level']} level; {rules})")
    for cat, v in result["by_category"].items():
        print(f"  {cat:<40} {v['accuracy']:.4f}  (n={v['count']})")
    print(f"written: {result['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
