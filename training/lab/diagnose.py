"""`zoo diagnose`: gradient-flow diagnostics of a run or of several cells.

    zoo diagnose RUN_DIR [--length 100] [--batch-size 16] [--text FILE]
    zoo diagnose --compare simple_rnn,lstm,gru --length 100 \
        [--connections none,residual,highway,dense --layers 4] \
        [--train-steps 300] [--out DIR]

A run directory is read through `training.run_dir`; `--text` is tokenised
as the run's training corpus was (`training.data.vocab.corpus_tokens`). The
measurement is `training.lab.gradient_flow`.
"""

import argparse
import os
import sys
import time

import numpy as np

from training import plots
from training.cli_args import (error, non_negative_int, output_dir,
                               positive_int, seed_number)
from training.atomic import atomic_write_json, json_text
from training.lab.gradient_flow import gradient_flow, last_step_loss, spectral_norms

def diagnose_model(model, family, length=100, batch_size=16, seed=0,
                   ids=None, vocab=None):
    """Gradient flow of a zoo model on one batch.

    Language models: `ids` `(batch, length + 1)` (a batch of data), or
    random ids in `[0, vocabulary_size)`; the loss is the last position's
    cross-entropy against the next id. Sentiment classifiers: random texts of
    `length` words from the model's vocabulary, loss of class 0 (the
    classifier pools all steps, so "last step" is the whole output).
    """
    rng = np.random.default_rng(seed)
    if family == "language_model":
        if getattr(model, "stateful", False) and hasattr(model, "with_options"):
            model = model.with_options(stateful=False)
        if ids is None:
            v = int(getattr(model, "vocabulary_size", None) or len(vocab))
            ids = rng.integers(0, v, size=(batch_size, length + 1))
        ids = np.asarray(ids, np.int32)
        flow = gradient_flow(model, ids[:, :-1],
                             last_step_loss("sparse_ce_logits", ids[:, -1]))
        return model, flow
    if family == "sentiment_classifier":
        import keras

        tv = [layer for layer in model._flatten_layers()
              if isinstance(layer, keras.layers.TextVectorization)]
        words = [w for w in tv[0].get_vocabulary()[2:] if w] if tv else []
        if not words:
            words = ["the", "a", "film", "good", "bad"]
        texts = np.array([" ".join(rng.choice(words, size=length))
                          for _ in range(batch_size)])
        flow = gradient_flow(model, texts,
                             last_step_loss("sparse_ce_probs",
                                            np.zeros(batch_size, np.int32)))
        return model, flow
    raise ValueError(
        f"Cannot make a batch for model family {family!r}; use "
        "training.lab.gradient_flow.gradient_flow(model, inputs, loss_fn)."
    )


def _text_ids(path, vocab, level, length, batch_size, seed, standardize=None,
              reverse=False):
    """A batch of `(batch_size, length + 1)` windows of a text file, encoded
    as the run's training corpus was (a review run's lines standardised as
    its reviews were; read from the last token to the first for a backward
    LM, `reverse`); also the number of unknown tokens."""
    from training.data.files import read_text
    from training.data.vocab import EOS_TOKEN, corpus_tokens, model_tokens

    text, _ = read_text(path)
    if standardize is not None and level == "word":
        tokens = [t for line in text.splitlines()
                  for t in model_tokens(line, level, standardize) + [EOS_TOKEN]]
    else:
        tokens = corpus_tokens(text, level)
    ids = vocab.encode(tokens)
    if reverse:
        ids = ids[::-1]
    need = length + 1
    if len(ids) < need:
        raise ValueError(f"{path}: {len(ids)} tokens, need at least {need}.")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - need + 1, size=batch_size)
    return (np.stack([ids[s:s + need] for s in starts]),
            {"count": len(tokens), "unknown": vocab.count_unknown(tokens)})


def diagnose_run(run_dir, length=100, batch_size=16, seed=0, text=None,
                 out=None):
    """Diagnoses a trained run directory; writes `gradient_flow.json/png`.

    Returns the result dict (also written to `OUT/gradient_flow.json`, with
    the plot at `OUT/gradient_flow.png`; `OUT` defaults to
    `RUN_DIR/diagnostics`). With `text`, `result["text_tokens"]` counts the
    file's tokens and those unknown to the run's vocabulary.
    """
    from training import run_dir as rd

    run = rd.open_run(run_dir)
    model = run.load_model()
    ids, tokens = None, None
    if text is not None:
        if run.family != "language_model":
            raise ValueError("--text needs a language-model run; "
                             f"{run_dir} is a {run.family}")
        ids, tokens = _text_ids(text, run.vocabulary, run.level, length,
                                batch_size, seed, run.standardize,
                                reverse=run.reverse)
    model, flow = diagnose_model(model, run.family, length, batch_size, seed,
                                 ids=ids, vocab=run.vocabulary)
    out = out or os.path.join(run_dir, "diagnostics")
    result = {
        "run_dir": os.path.abspath(run_dir),
        "family": run.family,
        "batch": "text:" + text if text else "random",
        "batch_size": batch_size,
        "seed": seed,
        **({"text_tokens": tokens} if tokens is not None else {}),
        **flow.to_dict(),
        "spectral_norms": spectral_norms(model),
    }
    png = os.path.join(out, "gradient_flow.png")
    flow.plot(png, title=f"{os.path.basename(os.path.abspath(run_dir))}: "
              f"gradient of the last step's loss (T={flow.length})")
    result["plot"] = png
    atomic_write_json(os.path.join(out, "gradient_flow.json"), result)
    return result


# ---------------------------------------------------------------------------
# Side-by-side comparison
# ---------------------------------------------------------------------------


def _variants(cells, connections, layers, stack_cell):
    variants = [(c, 1, "none") for c in cells]
    for con in connections:
        variants.append((stack_cell, layers, con))
    return variants


def _variant_name(cell, num_layers, connection):
    if num_layers == 1:
        return cell
    return f"{cell} x{num_layers} {connection}"


def compare(cells=("simple_rnn", "lstm", "gru"), length=100,
            connections=(), layers=4, stack_cell="lstm", units=32,
            train_steps=0, batch_size=32, learning_rate=1e-3, seed=0,
            out="diagnostics_compare", command=None, name="compare"):
    """Gradient norm against distance for several models, side by side.

    Builds adding-problem regressors (`training.lab.tasks.build_adding_model`):
    one single-layer model per cell, plus one `layers`-deep `stack_cell`
    stack per connection. Measures the gradient flow at initialisation and,
    if `train_steps`, after that many Adam steps on the adding problem of
    the same length. The plotted curve of a deep stack is its bottom layer
    (the longest path: through time and through depth); every layer is in
    the JSON. Writes `OUT/NAME.json` and `OUT/NAME.png`.
    """
    import keras

    from training.lab.tasks import adding_arrays
    from training.lab.tasks import adding_dataset
    from training.lab.tasks import build_adding_model

    t0 = time.time()
    x_diag, y_diag = adding_arrays(batch_size, length, seed=seed + 10_000)
    stages = ["init"] + (["trained"] if train_steps else [])
    results = []
    for k, (cell, n, con) in enumerate(_variants(cells, connections, layers,
                                                  stack_cell)):
        keras.utils.set_random_seed(seed + k)
        model = build_adding_model(cell, units, n, con, length=length)
        entry = {"name": _variant_name(cell, n, con), "cell": cell,
                 "num_layers": n, "connection": con, "units": units,
                 "params": int(model.count_params()), "stages": {}}
        loss_fn = last_step_loss("mse", y_diag)
        flow = gradient_flow(model, x_diag, loss_fn)
        entry["stages"]["init"] = {**flow.to_dict(),
                                   "spectral_norms": spectral_norms(model)}
        if train_steps:
            model.compile(keras.optimizers.Adam(learning_rate,
                                                global_clipnorm=1.0), "mse")
            hist = model.fit(adding_dataset(length, batch_size, seed=seed + k),
                             steps_per_epoch=train_steps, epochs=1, verbose=0)
            flow = gradient_flow(model, x_diag, loss_fn)
            entry["stages"]["trained"] = {
                **flow.to_dict(), "spectral_norms": spectral_norms(model),
                "train_loss_last": float(hist.history["loss"][-1]),
            }
        results.append(entry)
        print(f"  {entry['name']:<24} params={entry['params']:<6} " + "  ".join(
            f"{s}: |g(d={length - 1})|/|g(0)|="
            f"{_ratio(entry['stages'][s]):.2e}" for s in entry["stages"]),
            file=sys.stderr)

    panels = {}
    for stage in stages:
        title = ("at initialisation" if stage == "init" else
                 f"after {train_steps} steps on the adding problem")
        curves = {}
        for entry in results:
            st = entry["stages"][stage]
            label = entry["name"] + (" (layer 0)" if entry["num_layers"] > 1
                                     else "")
            curves[label] = st["grad_norm_by_distance"][st["layers"][0]]
        panels[f"T={length}, {title}"] = curves
    png = os.path.join(out, name + ".png")
    plots.plot_gradient_panels(panels, png)
    data = {
        "command": command,
        "length": length,
        "batch_size": batch_size,
        "units": units,
        "train_steps": train_steps,
        "learning_rate": learning_rate,
        "seed": seed,
        "task": "adding problem; loss = MSE of the prediction after the "
                "last step",
        "plot": png,
        "models": results,
        "wall_s": round(time.time() - t0, 1),
    }
    atomic_write_json(os.path.join(out, name + ".json"), data)
    return data


def _ratio(stage):
    row = stage["grad_norm_by_distance"][stage["layers"][0]]
    a, b = row[0], row[-1]
    if not a or b is None:
        return float("nan")
    return b / a


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def _diagnose_seed(text):
    """--seed: `--compare` seeds its models `seed + k` and its data `seed +
    10000`, so the seed stays below 2**31."""
    return seed_number(text, largest=2 ** 31 - 1)


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo diagnose",
        description="Gradient-flow diagnostics: the norm of the gradient of "
        "the last step's loss with respect to each earlier hidden state, per "
        "recurrent layer (log-scale PNG + JSON), and the spectral norms of "
        "the recurrent weight matrices.",
        epilog="examples:\n"
        "  zoo diagnose runs/ptb --length 100\n"
        "  zoo diagnose --compare simple_rnn,lstm,gru --length 100 "
        "--connections none,residual,highway,dense --layers 4 "
        "--train-steps 300 --out bench/results/diagnose",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", nargs="?", help="a run directory (model.keras, "
                   "config.json, vocab.txt for language models)")
    p.add_argument("--compare", type=_csv, metavar="CELLS",
                   help="comma-separated cells to compare on the adding "
                   "problem (simple_rnn,lstm,gru) instead of a run directory")
    p.add_argument("--length", type=positive_int, default=100, help="sequence length "
                   "(default 100)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--seed", type=_diagnose_seed, default=0)
    p.add_argument("--text", help="run dir: a text file to take the batch "
                   "from (language models); default random ids")
    p.add_argument("--connections", type=_csv, default=[],
                   help="--compare: also deep stacks with these connections "
                   "(none,residual,highway,dense)")
    p.add_argument("--layers", type=positive_int, default=4,
                   help="--compare: depth of the stacks (default 4)")
    p.add_argument("--stack-cell", default="lstm",
                   help="--compare: cell of the deep stacks (default lstm)")
    p.add_argument("--units", type=positive_int, default=32,
                   help="--compare: units per layer (default 32)")
    p.add_argument("--train-steps", type=non_negative_int, default=0,
                   help="--compare: also measure after N Adam steps on the "
                   "adding problem (default 0: initialisation only)")
    p.add_argument("--out", type=output_dir,
                   help="output directory (default RUN_DIR/"
                   "diagnostics, or ./diagnostics_compare)")
    p.add_argument("--name", default="compare",
                   help="--compare: results file stem (default compare)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.compare) == bool(args.run_dir):
        parser.error("give either RUN_DIR or --compare CELLS")
    try:
        if args.compare:
            from zoo.layers import CELLS
            from zoo.layers import CONNECTIONS

            bad = [c for c in args.compare + [args.stack_cell]
                   if c not in CELLS]
            bad += [c for c in args.connections if c not in CONNECTIONS]
            if bad:
                parser.error(f"unknown cell/connection {bad}; cells: "
                             f"{sorted(CELLS)}, connections: {list(CONNECTIONS)}")
            command = "zoo diagnose " + " ".join(
                argv if argv is not None else sys.argv[1:])
            data = compare(args.compare, args.length, args.connections,
                           args.layers, args.stack_cell, args.units,
                           args.train_steps, max(args.batch_size, 1),
                           seed=args.seed,
                           out=args.out or "diagnostics_compare",
                           command=command, name=args.name)
            summary = {
                "plot": data["plot"],
                "json": os.path.join(os.path.dirname(data["plot"]),
                                     args.name + ".json"),
                "command": command,
                "wall_s": data["wall_s"],
                "ratio_farthest_to_last": {
                    m["name"]: {s: _ratio(v) for s, v in m["stages"].items()}
                    for m in data["models"]},
            }
        else:
            result = diagnose_run(args.run_dir, args.length, args.batch_size,
                                  args.seed, args.text, args.out)
            summary = {k: result[k] for k in ("plot", "layers", "loss")}
            summary["json"] = os.path.join(os.path.dirname(result["plot"]),
                                           "gradient_flow.json")
            # a non-finite norm (an exploding run) was written as None
            summary["ratio_farthest_to_last"] = {
                name: (row[-1] / row[0] if row[0] and row[-1] is not None
                       else None)
                for name, row in result["grad_norm_by_distance"].items()}
            summary["spectral_norms"] = {
                r["layer"]: r["recurrent_kernel"]
                for r in result["spectral_norms"]}
    except (ValueError, OSError) as e:
        return error("diagnose", e)
    print(json_text(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
