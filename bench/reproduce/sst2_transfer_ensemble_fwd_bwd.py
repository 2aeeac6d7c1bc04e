#!/usr/bin/env python
"""Recipe: SST-2 on the GLUE dev set, an ensemble of forward and backward fine-tunings.

ULMFiT's bidirectional ensemble (Howard & Ruder 2018): classifiers started
from a forward LM (`--lm`) and classifiers started from a backward LM
(`--backward-lm`, trained on the same corpus read from its last token to its
first: `imdb_lm.py --extra --set reverse=true`), which read each sentence
reversed (`reverse=True`, taken from the LM). One member per seed and
direction, each `sst2_transfer.py` selected on the GLUE dev set, then
`zoo evaluate` of all of them together: the mean of their class
probabilities on dev. Nothing is selected among the members.

The members are those of the single-direction ensembles
(`sst2_transfer_ensemble.py`): `--forward-out` and `--backward-out` hold
them, and finished ones are reused, not trained again (the recipe always
resumes). Both LMs' seconds count as pretraining.

    .venv/bin/python bench/reproduce/imdb_lm.py                     # once
    .venv/bin/python bench/reproduce/imdb_lm.py --name imdb_lm_backward \\
        --out ../runs/imdb_lm_backward --extra --set reverse=true    # once
    .venv/bin/python bench/reproduce/sst2_transfer_ensemble_fwd_bwd.py \\
        [--lm ../runs/NAME] [--backward-lm ../runs/NAME] [--seeds S ...] \\
        [--forward-out ../runs/sst2_transfer_ensemble] \\
        [--backward-out ../runs/sst2_transfer_ensemble_backward]

Target: >= 88% on the GLUE dev set. Anchors: Tai et al. (2015) 2-layer
BiLSTM 87.2%, Tree-LSTM 88.0%, both with GloVe vectors.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _recipe  # noqa: E402
import sst2_transfer as single  # noqa: E402

RECIPE = "sst2_transfer_ensemble_fwd_bwd"


def check_groups(lm, backward_lm, forward_out, backward_out, seeds):
    """Exits with a message unless `lm` is a forward LM, `backward_lm` a
    backward one, and every member already in `forward_out`/`backward_out`
    (seedS) started from its group's LM: reused members must be what this
    recipe would train."""
    from training import run_dir as rd

    for path, backward, flag in ((lm, False, "--lm"), (backward_lm, True, "--backward-lm")):
        try:
            got = rd.open_run(path).reverse
        except ValueError as e:  # RunDirError
            raise SystemExit(f"{flag} {path}: {e}") from None
        if got != backward:
            raise SystemExit(
                f"{flag} {path}: a {'backward' if got else 'forward'} language model "
                f"(reverse={got}); {flag} takes a {'backward' if backward else 'forward'} one")
    for out, path in ((forward_out, lm), (backward_out, backward_lm)):
        for seed in seeds:
            member = os.path.join(out, f"seed{seed}")
            if not os.path.exists(os.path.join(member, "config.json")):
                continue
            started = ((rd.open_run(member).config.get("transfer") or {})
                       .get("init_from") or {}).get("run_dir")
            if started is None or os.path.abspath(started) != os.path.abspath(path):
                raise SystemExit(
                    f"{member} started from {started}, not {path}: give this "
                    "group another --forward-out / --backward-out")


def main():
    a = _recipe.parse_args(__doc__, RECIPE, lm=True, seeds=True, backward_lm=True)
    check_groups(a.lm, a.backward_lm, a.forward_out, a.backward_out, a.seeds)
    a.resume = True  # the single-direction ensembles' finished members
    pretraining = [_recipe.pretraining_of(a.lm), _recipe.pretraining_of(a.backward_lm)]
    _recipe.run_ensemble(
        a, recipe=RECIPE, preset=single.PRESET, data=single.DATA, metric="accuracy",
        target=single.TARGET, split=single.SPLIT, pretraining=pretraining,
        member_args=None,
        groups=[("forward", a.forward_out, ["--init-from", a.lm, *single.VALIDATION]),
                ("backward", a.backward_out,
                 ["--init-from", a.backward_lm, *single.VALIDATION])],
        anchor=single.ANCHOR,
        task="SST-2 (GLUE) binary sentiment, an ensemble of fine-tunings from "
             f"{pretraining[0]} (forward) and {pretraining[1]} (backward)")


if __name__ == "__main__":
    main()
