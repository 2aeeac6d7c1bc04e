"""Every figure the project draws: learning curves, search trials, gradient
flow and the lab's benchmarks.

matplotlib is imported here only, lazily and with the Agg backend (no
display needed); every figure is written atomically and closed.
"""

from __future__ import annotations

import math

import numpy as np

from training.atomic import atomic_savefig

CURVE_KEYS = ("loss", "accuracy", "perplexity", "bits_per_character",
              "grad_norm", "clipped_fraction", "learning_rate")


def figure(ncols=1, nrows=1, width=6.5, height=4.2):
    """A new `(figure, axes)`; `axes` is an array of `nrows * ncols` axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.reshape(-1)


def save(fig, path, dpi=110):
    """Lays out and writes `fig` to `path` atomically (folders created)."""
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=dpi)


# ------------------------------------------------------------ training


def plot_curves(rows, path, title=""):
    """Learning curves of history rows: one panel per quantity (loss, the
    task metric, grad_norm, clipped_fraction, learning rate), training and
    validation together. Does nothing without rows."""
    if not rows:
        return
    names = [k for k in CURVE_KEYS
             if any(k in r or "val_" + k in r for r in rows)]
    fig, axes = figure(len(names), width=4, height=3.2)
    for ax, key in zip(axes, names):
        for prefix, style in (("", "o-"), ("val_", "s--")):
            _plot_history(ax, rows, prefix + key, style, (prefix or "train_").rstrip("_"))
        _finish_epoch_axes(ax, key)
    if title:
        fig.suptitle(title)
    save(fig, path, dpi=80)


def _plot_history(ax, rows, key, style, label):
    """`key` of history rows against their epoch, where it is a number."""
    pts = [(r["epoch"], r[key]) for r in rows if isinstance(r.get(key), float)]
    if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, style, label=label)


def _finish_epoch_axes(ax, title):
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_members(histories, path, *, metric="accuracy", ensemble=None, title=""):
    """Learning curves of several runs (an ensemble's members): training and
    validation `metric` per epoch, one line per run, and the ensemble's
    figure as a horizontal line.

    Args:
        histories: `{label: history rows}`.
        path: the PNG to write.
        metric: the history key (`val_` + it for validation).
        ensemble: the ensemble's validation figure, or `None`.
        title: the figure's title.
    """
    fig, axes = figure(2, width=4.5, height=3.4)
    for ax, prefix in zip(axes, ("", "val_")):
        for label, rows in histories.items():
            _plot_history(ax, rows, prefix + metric, "s--" if prefix else "o-", label)
        if prefix and ensemble is not None:
            ax.axhline(ensemble, color="k", lw=1, label=f"ensemble {ensemble:.4g}")
        _finish_epoch_axes(ax, ("validation " if prefix else "training ") + metric)
    if title:
        fig.suptitle(title)
    save(fig, path, dpi=80)


def plot_trials(rows, path, config):
    """A search's objective against each searched hyperparameter."""
    done = [r for r in rows if r["objective"] is not None]
    keys = list(config["searched"])[:9]
    n = max(len(keys), 1)
    cols = min(3, n)
    fig, axes = figure(cols, math.ceil(n / cols), width=4, height=3)
    name = config["objective"]["name"]
    for ax, key in zip(axes, keys):
        pairs = [(r["hyperparameters"].get(key), r["objective"]) for r in done]
        pairs = [p for p in pairs if p[0] is not None]
        entry = config["searched"][key]
        numeric = "choice" not in entry or all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in entry["choice"])
        if numeric:
            ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=18)
            if entry.get("sampling") == "log":
                ax.set_xscale("log")
        else:
            cats = [str(v) for v in entry["choice"]]
            ax.scatter([cats.index(str(p[0])) if str(p[0]) in cats else -1
                        for p in pairs], [p[1] for p in pairs], s=18)
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels(cats)
        ax.set_xlabel(key)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    for ax in list(axes)[len(keys):]:
        ax.axis("off")
    if not keys:
        axes[0].text(0.5, 0.5, "nothing searched", ha="center")
    fig.suptitle(f"{config['preset']}: {name} of {len(done)} completed "
                 "trial(s)")
    save(fig, path, dpi=80)


# ---------------------------------------------------------- the lab


def positive(row):
    """`row` as floats with non-positive and missing values as NaN (for a
    log scale)."""
    row = np.asarray([np.nan if v is None else v for v in row],
                     dtype=np.float64)
    row[~(row > 0)] = np.nan
    return row


def _gradient_axes(ax, title):
    ax.set_xlabel("distance from the last step (T - 1 - t)")
    ax.set_ylabel("||dL_T / dh_t||  (batch mean)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def plot_gradient_flow(curves, path, title):
    """Gradient norm against distance, log scale.

    Args:
        curves: `{label: norms by distance}`.
        path: the PNG to write.
        title: the panel's title.
    """
    plot_gradient_panels({title: curves}, path)


def plot_gradient_panels(panels, path):
    """Several gradient-flow panels side by side: `{title: {label: norms
    by distance}}`."""
    fig, axes = figure(len(panels))
    for ax, (title, curves) in zip(axes, panels.items()):
        for label, row in curves.items():
            ax.semilogy(np.arange(len(row)), positive(row), label=label)
        _gradient_axes(ax, title)
    save(fig, path)


def plot_longrange(data, path):
    """Validation MSE curves of `zoo bench longrange`, one panel a length."""
    lengths = data["lengths"]
    fig, axes = figure(len(lengths), width=5.0)
    for ax, length in zip(axes, lengths):
        for row in data["results"]:
            if row["length"] != length:
                continue
            c = np.array([p[:2] for p in row["curve"]], dtype=float)
            ax.semilogy(c[:, 0], c[:, 1],
                        label=f"{row['model']} ({row['units']}u, "
                        f"{row['params']}p)")
        ax.axhline(data["baseline_mse"], color="gray", ls="--", lw=1,
                   label="baseline (predict 1)")
        ax.axhline(data["target_mse"], color="black", ls=":", lw=1,
                   label=f"target {data['target_mse']}")
        ax.set_title(f"adding problem, T={length}", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("validation MSE")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    save(fig, path)


def plot_exploding(data, path):
    """Loss and gradient norm per step of `zoo bench exploding`."""
    fig, (a1, a2) = figure(2, width=5.5)
    for mode, run in data["runs"].items():
        label = mode + (f" (NaN at step {run['nan_step']})" if run["nan"]
                        else "")
        a1.semilogy(run["loss"], label=label, lw=0.8)
        a2.semilogy(run["grad_global_norm"], label=mode, lw=0.8)
    a2.axhline(data["threshold"], color="black", ls=":", lw=1,
               label=f"threshold {data['threshold']}")
    a1.set_title(f"{data['model']}, {data['recurrent_init']}: training loss",
                 fontsize=9)
    a2.set_title("global gradient norm before clipping", fontsize=9)
    for a in (a1, a2):
        a.set_xlabel("step")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    save(fig, path)
