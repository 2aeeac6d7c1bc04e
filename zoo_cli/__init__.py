"""The `zoo` command: one subcommand per verb, each a thin wrapper.

This package sits above `zoo`, `training` and `serving` (which depend on
each other one way only: zoo <- training <- serving). Each verb lives in the
package that owns it and is imported only when run, so `zoo --help` does not
import TensorFlow. A verb module exposes `main(argv) -> int`.

TensorFlow's start-up logs are kept out of the output (`zoo_cli.quiet`)
unless the global option `--tf-logs` comes before the verb:
`zoo --tf-logs train ...`.
"""

import argparse
import importlib
import sys

# verb -> (module, one-line help)
VERBS = {
    "list": ("zoo_cli", "list presets; --build builds each and shows shapes"),
    "train": ("training.cli_train", "train a preset on a data source"),
    "evaluate": ("training.cli_evaluate", "evaluate a run directory"),
    "evaluate-pairs": ("training.lab.pairs", "minimal-pair accuracy of a language model"),
    "tune": ("training.tune", "hyperparameter search with keras-tuner"),
    "diagnose": ("training.lab.diagnose", "gradient-flow diagnostics"),
    "bench": ("training.lab.benchmarks", "benchmarks (e.g. `zoo bench longrange`)"),
    "export": ("serving.export", "export a run as a TF Serving SavedModel"),
    "serve": ("serving.cli", "serve a models directory over TF Serving's REST API"),
    "predict": ("serving.cli", "send a request to a server"),
    "quickstart": ("serving.quickstart", "train, evaluate, export, serve and query"),
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="RNN Zoo: gated recurrent networks for Keras 3.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="verbs:\n" + "\n".join(
            f"  {verb:<15} {text}" for verb, (_, text) in VERBS.items()
        ) + "\n\nRun `zoo VERB --help` for a verb's options.",
    )
    parser.add_argument(
        "--tf-logs", action="store_true",
        help="show TensorFlow's own logs (absl, oneDNN, CUDA notices); by "
        "default they are hidden and TF_CPP_MIN_LOG_LEVEL is 3 unless set")
    parser.add_argument("verb", choices=sorted(VERBS), metavar="VERB",
                        help="one of the verbs below")
    return parser


def _split_global(argv):
    """(zoo's own options and the verb, the verb's arguments).

    Global options are the ones before the verb; everything after it is the
    verb's, so `zoo train --verbose 2` keeps Keras' `--verbose`.
    """
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return argv[:i + 1], argv[i + 1:]
    return argv, []


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    head, rest = _split_global(argv)
    ns = parser.parse_args(head)  # exits on --help or a bad option/verb
    if not ns.tf_logs:
        from zoo_cli import quiet

        quiet.quiet_tensorflow()
    argv = [ns.verb] + rest
    module_name, _ = VERBS[ns.verb]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"zoo {ns.verb}: not available in this build ({e}).",
                  file=sys.stderr)
            return 2
        raise
    if ns.verb == "list":
        return list_main(argv[1:])
    if module_name == "serving.cli":
        return module.main([ns.verb] + argv[1:])
    return module.main(argv[1:])


def list_main(argv):
    p = argparse.ArgumentParser(prog="zoo list",
                                description="List the zoo's presets.")
    p.add_argument("--build", action="store_true",
                   help="build every preset and show parameter counts and "
                   "output shapes on a tiny input")
    p.add_argument("--markdown", action="store_true",
                   help="print the README's presets table (builds each preset "
                   "to count its parameters)")
    args = p.parse_args(argv)
    from zoo.models import factory

    if args.markdown:
        print(presets_markdown())
        return 0
    for name in factory.list_models():
        preset = factory.get_preset(name)
        line = f"{name:<22} {preset['family']:<22} {preset['description']}"
        if args.build:
            model, shape = _demo_forward(name)
            line += (f"\n{'':<22} params={model.count_params():,} "
                     f"output={shape}")
        print(line)
    return 0


def recipe_summary(training):
    """One line for a preset's training settings, e.g. `adam lr 0.001, ...`."""
    t = training
    parts = [f"{t['optimizer']} lr {t['learning_rate']:g}"]
    if t.get("clipnorm"):
        parts.append(f"clipnorm {t['clipnorm']:g}")
    if t.get("global_clipnorm"):
        parts.append(f"global clip {t['global_clipnorm']:g}")
    if t.get("lr_decay"):
        parts.append(f"lr x{t['lr_decay']:g} per epoch after {t.get('lr_decay_after') or 0}")
    if t.get("lr_schedule", "constant") != "constant":
        length = (f" over {t['schedule_minutes']:g} min"
                  if t.get("schedule_minutes") else
                  f" over {t['schedule_steps']} steps"
                  if t.get("schedule_steps") else "")
        parts.append(f"{t['lr_schedule'].replace('_', ' ')}{length} "
                     f"(warm-up {t.get('warmup_fraction', 0.1):g})")
    if t.get("layer_lr_decay"):
        parts.append(f"layer rates /{t['layer_lr_decay']:g}")
    if t.get("unfreeze_steps"):
        parts.append(f"unfreeze a group every {t['unfreeze_steps']} steps")
    if t.get("steps_per_epoch"):
        parts.append(f"{t['epochs']} epochs of {t['steps_per_epoch']} steps, "
                     f"batch {t['batch_size']}")
    else:
        parts.append(f"{t['epochs']} epochs, batch {t['batch_size']}")
    if t.get("bptt"):
        parts.append(("variable " if t.get("variable_bptt") else "")
                     + f"bptt {t['bptt']}")
    if t.get("weight_average"):
        kind = ("EMA " + f"{t.get('average_momentum') or 0.999:g}"
                if t["weight_average"] == "ema" else "uniform average")
        start = t.get("average_start_epoch") or 0
        parts.append(f"{kind} of the weights " + (
            "from the non-monotonic trigger" if start == "nonmonotonic"
            else f"from epoch {start + 1}"))
    return ", ".join(parts)


def presets_markdown():
    """The README's presets table, from the preset registry."""
    from zoo.models import factory

    lines = ["| preset | family | model | parameters | training recipe |",
             "|---|---|---|---:|---|"]
    for name in factory.list_models():
        preset = factory.get_preset(name)
        model, _ = _demo_forward(name)
        lines.append(f"| `{name}` | {preset['family']} | {preset['description']} | "
                     f"{model.count_params():,} | {recipe_summary(preset['training'])} |")
    return "\n".join(lines)


def _demo_forward(name):
    import numpy as np

    from zoo.models import factory

    model = factory.build(name)
    if factory.get_preset(name)["family"] == "sentiment_classifier":
        model.adapt_vocabulary(["a tiny demo corpus", "to build a vocabulary"])
        out = model(np.array(["a tiny demo", "sentence"]))
    else:
        out = model(np.zeros((2, 8), dtype="int32"))
    return model, tuple(out.shape)


if __name__ == "__main__":
    sys.exit(main())
