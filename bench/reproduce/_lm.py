"""Language-model recipe runner shared by ptb_small, ptb_regularized and shakespeare_char."""

from __future__ import annotations

import argparse
import os

import _common as c


def parse_args(doc, recipe):
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--out", default=os.path.join(c.RUNS, recipe))
    p.add_argument("--resume", action="store_true",
                   help="continue an unfinished run in --out (zoo train --resume)")
    p.add_argument("--note", default=None, help="a note recorded in the results file")
    p.add_argument("--collect", action="store_true",
                   help="do not train: evaluate and record the finished run in --out")
    p.add_argument("--name", default=recipe,
                   help="results file name (bench/results/NAME.json), for variants")
    p.add_argument("--eval-batch-size", type=int, default=None,
                   help="zoo evaluate --batch-size (default: zoo's, 1 = exact)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further `zoo train` arguments")
    return p.parse_args()


def sample(run_dir, prime, length, temperature=0.8, seed=0):
    """Samples `length` tokens from a run's best checkpoint, primed with `prime`.

    Loads model.keras and vocab.txt from RUN_DIR, makes a stateful batch-1
    copy (`with_options`), feeds the prime and then one sampled token at a
    time, carrying the recurrent state.
    """
    import numpy as np

    from training import run_dir as rd

    run = rd.load_run(run_dir)
    vocab = run.vocab
    lm = run.model.with_options(stateful=True, batch_size=1)
    lm.reset_states()
    rng = np.random.default_rng(seed)
    char = run.level == "char"
    toks = list(prime) if char else prime.split()
    ids = np.asarray(vocab.encode(toks), dtype="int32")[None, :]
    logits = np.asarray(lm(ids, training=False))[0, -1]
    out = []
    for _ in range(length):
        z = logits.astype("float64") / temperature
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        nxt = int(rng.choice(len(p), p=p))
        out.append(nxt)
        logits = np.asarray(lm(np.asarray([[nxt]], dtype="int32"), training=False))[0, -1]
    words = vocab.decode(out)
    return prime + ("".join(words) if char else " " + " ".join(words))


def run_recipe(a, *, recipe, preset, data, metric, target, anchor, task, notes=None,
               sample_prime=None, sample_length=0, extra_train_args=()):
    args = (["--epochs", str(a.epochs)] if a.epochs else []) + list(extra_train_args) + a.extra
    if a.collect:
        cmd, secs, time_note = c.collected_train(a.out)
    else:
        cmd, secs, time_note = c.train_or_resume(preset, data, a.out, *args,
                                                 resume=a.resume)
    eargs = ["--batch-size", str(a.eval_batch_size)] if a.eval_batch_size else []
    ecmd, ev = c.evaluate(a.out, data, *eargs, split="validation")
    s = c.run_summary(a.out)
    value = ev[metric]
    op = target["op"]
    met = value <= target["value"] if op == "<=" else value >= target["value"]
    result = {
        "preset": preset,
        "task": task,
        "metric": metric,
        "value": value,
        "split": "validation",
        "validation_carve": s["validation_carve"],
        "target": target,
        "met": met,
        "anchor": anchor,
        "training_seconds": round(secs, 1),
        "training_seconds_note": time_note,
        "params": c.count_params(a.out),
        "command": cmd,
        "evaluate_command": ecmd,
        "evaluation": ev,
        "notes": " ".join(x for x in (notes, a.note) if x) or None,
        **{k: s[k] for k in ("training_settings", "overrides", "data", "seed",
                             "versions", "metrics_json", "history")},
    }
    if sample_prime is not None and sample_length:
        result["sample"] = {"prime": sample_prime, "length": sample_length,
                            "temperature": 0.8, "seed": 0,
                            "checkpoint": "model.keras",
                            "text": sample(a.out, sample_prime, sample_length)}
    c.write_result(a.name, result)
