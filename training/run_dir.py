"""RUN_DIR: the one module that reads and writes a run directory.

`zoo train` writes a run directory; `zoo evaluate`, `zoo export`,
`zoo diagnose`, `zoo evaluate-pairs`, `zoo tune --export-best`, the
quickstart and the bench recipes read it, all through this module
(`open_run`). See docs/architecture.md for who owns which hand-off.

```
config.json      schema version, preset, family, overrides, model config,
                 training settings, data (source, fingerprint, validation
                 carve), seed, versions, command line
model.keras      best checkpoint by the validation metric
last.keras       end of the last finished epoch
backup/          resume state (keras.callbacks.BackupAndRestore)
vocab.txt        language models: one token per line, line i = id i
warmup_texts.json  a few validation texts, from which `zoo export` builds
                 the SavedModel's warmup requests (TF Serving's
                 `tf_serving_warmup_requests`)
history.csv      one row per epoch (grad_norm and clipped_fraction included)
metrics.json     final validation (and test) metrics
curves.png       learning curves
tensorboard/     event files (TensorFlow backend)
```

`config.json` stores each fact once (schema 2). The model's level
(`"word"`/`"char"`) and class names are in `model_config`, the model's own
Keras config, and nowhere else; `Run.level` and `Run.class_names` read them
from there. Run directories written before the schema version existed
(schema 1: `level` and `class_names` repeated at the top level and in
`data`) still load: `upgrade_config` turns them into schema 2 when read,
and a resumed run rewrites its `config.json` in the new form.

Every file but TensorBoard's event files is written atomically (a
temporary file in the same directory, then `os.replace`), so a reader, or a
run killed half-way, never sees a partial file.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import math
import os
import zipfile

from training import reports
from training.atomic import (atomic_save_model, atomic_write_json,
                             atomic_write_text, replacing)

SCHEMA_VERSION = 2

CONFIG = "config.json"
BEST = "model.keras"
LAST = "last.keras"
BACKUP = "backup"
VOCAB = "vocab.txt"
WARMUP_TEXTS = "warmup_texts.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"
CHECKPOINTS = {"best": BEST, "last": LAST}
# What a run keeps at its top level (an output file may not take these names)
OWN_FILES = (CONFIG, BEST, LAST, BACKUP, VOCAB, WARMUP_TEXTS, HISTORY,
             METRICS, CURVES, TENSORBOARD)
FAMILIES = ("sentiment_classifier", "language_model")


class RunDirError(ValueError):
    """A RUN_DIR is missing, incomplete, malformed or in use; the message
    names the directory or file and says which."""


def path(run_dir, name) -> str:
    """The path of `name` (e.g. `BEST`) inside `run_dir`."""
    return os.path.join(os.fspath(run_dir), name)


# ------------------------------------------------------------------ config


def now() -> str:
    """The current UTC time, as recorded in config.json."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")


def new_config(*, preset, family, description, overrides, model_config,
               training, data, validation, seed, command_line) -> dict:
    """The schema-2 `config.json` of a new run.

    Args:
        preset: the preset (or family) name trained.
        family: `"sentiment_classifier"` or `"language_model"`.
        description: the preset's description, or `None`.
        overrides: the model arguments given on the command line.
        model_config: the model's `get_config()`: the only record of its
            level, class names and vocabulary size.
        training: the resolved training settings plus how they ran
            (replicas, global batch, strategy, mixed precision).
        data: the data summary (source, fingerprint, description, counts);
            any `level` or `class_names` in it are dropped (they are in
            `model_config`).
        validation: how the validation split was obtained:
            `{"how": str, "fraction": float or None}`, plus `group`,
            `validation_data` or `seed` (`--validation-seed`) when they
            were used.
        seed: the run's seed (weights, shuffling, validation carve).
        command_line: the argv that started the run.
    """
    data = {k: v for k, v in dict(data).items()
            if k not in ("level", "class_names", "vocab_size", "validation")}
    data["validation"] = dict(validation)
    return {
        "schema": SCHEMA_VERSION,
        "preset": preset,
        "family": family,
        "description": description,
        "overrides": dict(overrides),
        "model_config": dict(model_config),
        "training": dict(training),
        "data": data,
        "seed": int(seed),
        "versions": reports.versions(),
        "command_line": list(command_line),
        "created": now(),
    }


def upgrade_config(raw, where="config.json") -> dict:
    """Returns `raw` (a parsed config.json of any schema) as schema 2.

    Schema 1 (no `schema` key) repeated `level` (top level, `data`,
    `model_config`) and `class_names` (top level, `data`); the copy in
    `model_config` is kept, filled from the others if it lacks one, and the
    validation carve loses its copy of the seed.

    Raises:
        RunDirError: not a JSON object, a newer schema, or no `family`.
    """
    if not isinstance(raw, dict):
        raise RunDirError(f"{where}: not a JSON object")
    schema = raw.get("schema", 1)
    if not isinstance(schema, int) or schema < 1:
        raise RunDirError(f"{where}: invalid schema {schema!r}")
    if schema > SCHEMA_VERSION:
        raise RunDirError(
            f"{where}: written by a newer RNN Zoo (config schema {schema}; "
            f"this one reads up to {SCHEMA_VERSION}); upgrade rnn-zoo")
    config = json.loads(json.dumps(raw))  # a deep copy
    if config.get("family") not in FAMILIES:
        raise RunDirError(f"{where}: unknown model family "
                          f"{config.get('family')!r}; expected one of "
                          f"{list(FAMILIES)}")
    _check_types(config, where)
    if schema == 1:
        data = config.setdefault("data", {})
        model_config = config.setdefault("model_config", {})
        level = config.pop("level", None) or data.get("level")
        names = config.pop("class_names", None) or data.get("class_names")
        if config["family"] == "language_model":
            model_config.setdefault("level", level or "word")
        elif names is not None:
            model_config.setdefault("class_names", list(names))
        for key in ("level", "class_names", "vocab_size"):
            data.pop(key, None)
        config.pop("vocab_size", None)
        config.pop("checkpoints", None)
        carve = dict(data.get("validation") or {})
        carve.pop("seed", None)
        data["validation"] = carve
        config["schema"] = SCHEMA_VERSION
        config["upgraded_from_schema"] = 1
    return config


def _check_types(config, where):
    """`RunDirError` for sections and carve fields of the wrong type (a
    hand-edited `config.json`), which readers would otherwise trip on."""
    def bad(what, value, want):
        raise RunDirError(f"{where}: {what} must be {want}. Received: "
                          f"{what}={value!r}")

    for key in ("data", "model_config", "training", "overrides"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            bad(key, config[key], "a JSON object")
    seed = config.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        bad("seed", seed, "an integer")
    epochs = (config.get("training") or {}).get("epochs")
    if epochs is not None and (isinstance(epochs, bool)
                               or not isinstance(epochs, int) or epochs < 0):
        bad("training.epochs", epochs, "an integer >= 0")
    source = (config.get("data") or {}).get("source")
    if source is not None and not isinstance(source, str):
        bad("data.source", source, "a string")
    size = (config.get("model_config") or {}).get("vocabulary_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                             or size < 1):
        bad("model_config.vocabulary_size", size, "an integer >= 1")
    names = (config.get("model_config") or {}).get("class_names")
    if names is not None and (not isinstance(names, list) or not all(
            isinstance(c, str) for c in names)):
        bad("model_config.class_names", names, "a list of strings")
    carve = (config.get("data") or {}).get("validation")
    if carve is None:
        return
    if not isinstance(carve, dict):
        bad("data.validation", carve, "a JSON object")
    fraction = carve.get("fraction")
    if fraction is not None and (isinstance(fraction, bool)
                                 or not isinstance(fraction, (int, float))
                                 or not 0 <= fraction < 1):
        bad("data.validation.fraction", fraction, "a number in [0, 1)")
    if carve.get("seed") is not None and (
            isinstance(carve["seed"], bool) or not isinstance(carve["seed"], int)):
        bad("data.validation.seed", carve["seed"], "an integer")
    for key in ("group", "validation_data", "how"):
        if carve.get(key) is not None and not isinstance(carve[key], str):
            bad(f"data.validation.{key}", carve[key], "a string")


def write_config(run_dir, config) -> None:
    """Writes `config.json` (atomically)."""
    atomic_write_json(path(run_dir, CONFIG), config)


def read_config(run_dir) -> dict:
    """Reads `RUN_DIR/config.json` as schema 2 (see `upgrade_config`).

    Raises:
        RunDirError: the directory or `config.json` is missing or malformed.
    """
    run_dir = os.fspath(run_dir)
    if os.path.isfile(run_dir):
        raise RunDirError(
            f"{run_dir}: is a file, not a run directory; pass the folder of "
            f"the run (the --out of `zoo train`)"
            + (f": {os.path.dirname(run_dir) or '.'}"
               if os.path.isfile(os.path.join(os.path.dirname(run_dir),
                                              CONFIG)) else ""))
    if not os.path.isdir(run_dir):
        raise RunDirError(f"{run_dir}: run directory does not exist")
    p = path(run_dir, CONFIG)
    if not os.path.exists(p):
        raise RunDirError(
            f"{run_dir}: not a run directory (no {CONFIG}); pass the --out "
            "folder of a `zoo train` run")
    try:
        with open(p, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunDirError(f"{p}: cannot be read as JSON ({e})") from None
    return upgrade_config(raw, where=p)


# ----------------------------------------------------------------- history


def write_history(file, rows) -> None:
    """Writes `history.csv` atomically: one row per epoch, `epoch` first.

    Columns are the union of the rows' keys (`epoch`, then sorted), like
    `keras.callbacks.CSVLogger`; missing values are empty.
    """
    keys = sorted({k for r in rows for k in r} - {"epoch"})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch"] + keys)
    for r in rows:
        writer.writerow([r.get("epoch", "")] + [_cell(r.get(k)) for k in keys])
    atomic_write_text(file, buf.getvalue())


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def read_history(file) -> list[dict]:
    """Reads `history.csv` into a list of dicts (numbers as float, epoch int).

    Returns `[]` if the file does not exist.
    """
    if not os.path.exists(file):
        return []
    rows = []
    try:
        with open(file, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for raw in reader:
                row = {}
                for k, v in raw.items():
                    if v is None or v == "" or k is None:
                        continue
                    if k == "epoch":
                        row[k] = _history_epoch(file, reader.line_num, v)
                        continue
                    try:
                        row[k] = float(v)
                    except ValueError:
                        row[k] = v
                rows.append(row)
    except (UnicodeDecodeError, csv.Error) as e:
        raise RunDirError(f"{file}: cannot be read as CSV ({e}); restore it "
                          "or pass --overwrite to start over") from None
    return rows


def _history_epoch(file, line, value) -> int:
    """An epoch cell of `history.csv` as an int (`3`, or `3.0` as a
    spreadsheet writes it), else a `RunDirError` naming the line."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer() and number >= 0):
        raise RunDirError(f"{file}: line {line}: the epoch must be an integer "
                          f">= 0. Received: epoch={value!r}")
    return int(number)


# -------------------------------------------------------------------- Run


@dataclasses.dataclass(frozen=True)
class Carve:
    """How a run's validation split was obtained.

    Attributes:
        how: a description, e.g. `"stratified carve of train"`.
        fraction: the share of train held out, or `None` (the source's own
            validation split).
        seed: the seed of the carve: `--validation-seed` where the run
            was given one (recorded as the carve's `seed`), else the run's
            seed.
        group: the column no value of which is on both sides of the carve
            (`--validation-group`), or `None`.
        validation_data: the separate validation SOURCE
            (`--validation-data`), or `None`.
    """

    how: str | None
    fraction: float | None
    seed: int
    group: str | None = None
    validation_data: str | None = None


class Run:
    """A run directory, as `open_run` returns it.

    Attributes:
        run_dir: the directory.
        config: the schema-2 `config.json` (see `upgrade_config`).
        family: `"sentiment_classifier"` or `"language_model"`.
        preset: the preset (or family) name trained.
        model_config: the model's Keras config.
        training: the training settings.
        data: the data summary (source, fingerprint, description, counts,
            validation).
        seed: the run's seed.
        overrides: the model arguments given on the command line.
        level: `"word"` or `"char"` (language models), else `None`.
        class_names: the class names (classifiers), else `None`.
        carve: the validation `Carve`.
        warmup_texts: the texts kept for export's warmup requests, or
            `None` (runs written before they were kept).
        best_path, last_path, backup_dir, vocab_path, warmup_texts_path,
        history_path, metrics_path, curves_path, tensorboard_dir: the files
        inside.

    Example:

    ```python
    run = open_run("runs/ptb")
    run.level, run.vocabulary.decode([0, 1])
    model = run.load_model()          # model.keras, stateless
    ```
    """

    def __init__(self, run_dir, config):
        self.run_dir = os.fspath(run_dir)
        self.config = config
        self._vocabulary = None
        self._models = {}

    def __repr__(self):
        return (f"Run({self.run_dir!r}, family={self.family!r}, "
                f"preset={self.preset!r})")

    # -- facts ---------------------------------------------------------------
    family = property(lambda self: self.config["family"])
    preset = property(lambda self: self.config.get("preset"))
    model_config = property(lambda self: self.config.get("model_config") or {})
    training = property(lambda self: self.config.get("training") or {})
    data = property(lambda self: self.config.get("data") or {})
    # how the corpus's texts were standardised (review corpora), or None
    standardize = property(lambda self: self.data.get("standardize"))
    overrides = property(lambda self: dict(self.config.get("overrides") or {}))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 1337))

    @property
    def level(self):
        if self.family != "language_model":
            return None
        return self.model_config.get("level", "word")

    @property
    def reverse(self) -> bool:
        """Whether the model reads text backwards (a backward LM, or a
        classifier started from one); `False` for runs written before."""
        return bool(self.model_config.get("reverse", False))

    @property
    def class_names(self):
        if self.family != "sentiment_classifier":
            return None
        names = self.model_config.get("class_names")
        return None if names is None else [str(c) for c in names]

    @property
    def carve(self) -> Carve:
        v = self.data.get("validation") or {}
        return Carve(how=v.get("how"), fraction=v.get("fraction"),
                     seed=v.get("seed", self.seed), group=v.get("group"),
                     validation_data=v.get("validation_data"))

    # -- files ---------------------------------------------------------------
    def file(self, name) -> str:
        return path(self.run_dir, name)

    best_path = property(lambda self: self.file(BEST))
    last_path = property(lambda self: self.file(LAST))
    backup_dir = property(lambda self: self.file(BACKUP))
    vocab_path = property(lambda self: self.file(VOCAB))
    warmup_texts_path = property(lambda self: self.file(WARMUP_TEXTS))
    history_path = property(lambda self: self.file(HISTORY))
    metrics_path = property(lambda self: self.file(METRICS))
    curves_path = property(lambda self: self.file(CURVES))
    tensorboard_dir = property(lambda self: self.file(TENSORBOARD))

    def checkpoint_path(self, which="best") -> str:
        """`model.keras` (`"best"`) or `last.keras` (`"last"`).

        Raises:
            RunDirError: another `which`, or the checkpoint does not exist.
        """
        if which not in CHECKPOINTS:
            raise RunDirError(f"checkpoint must be 'best' or 'last'. "
                              f"Received: checkpoint={which!r}")
        p = self.file(CHECKPOINTS[which])
        if not os.path.exists(p):
            raise RunDirError(
                f"{p}: missing; the run has not finished an epoch yet "
                "(resume it with `zoo train ... --resume`)")
        return p

    # -- contents ------------------------------------------------------------
    @property
    def vocabulary(self):
        """The language model's `Vocabulary` (`vocab.txt`), else `None`.

        Raises:
            RunDirError: a language-model run without `vocab.txt`, or with
                more tokens than the model's `vocabulary_size`.
            training.data.DataError: a malformed `vocab.txt`.
        """
        if self.family != "language_model":
            return None
        if self._vocabulary is None:
            from training.data.vocab import Vocabulary

            if not os.path.exists(self.vocab_path):
                raise RunDirError(f"{self.vocab_path}: missing (language-model "
                                  "runs save their vocabulary)")
            vocab = Vocabulary.load(
                self.vocab_path,
                oov_token=self.data.get("oov_token") or "<unk>")
            size = self.model_config.get("vocabulary_size")
            if isinstance(size, int) and len(vocab) > size:
                raise RunDirError(
                    f"{self.vocab_path}: {len(vocab)} tokens, more than the "
                    f"model's vocabulary_size of {size} ({CONFIG}); the file "
                    "was changed after training")
            self._vocabulary = vocab
        return self._vocabulary

    @property
    def warmup_texts(self):
        """The texts saved for warmup requests (`warmup_texts.json`), or
        `None` for a run written before runs kept them.

        Raises:
            RunDirError: a malformed `warmup_texts.json`.
        """
        return read_warmup_texts(self.run_dir)

    def load_model(self, which="best", *, compile=False):
        """Loads `model.keras` or `last.keras` (cached per checkpoint).

        Language-model checkpoints are stateless copies (any batch size);
        `model.with_options(stateful=True, batch_size=B)` carries state.
        """
        p = self.checkpoint_path(which)
        key = (which, bool(compile))
        if key not in self._models:
            import keras

            import zoo  # noqa: F401  (registers the zoo's classes)

            try:
                self._models[key] = keras.saving.load_model(p,
                                                            compile=compile)
            except (OSError, ValueError, KeyError, TypeError, EOFError,
                    zipfile.BadZipFile) as e:
                # (Keras raises TypeError for a class it cannot find or a
                # layer config its class does not take, as from a newer zoo)
                damaged = not _intact_zip(p)
                other = "last" if which == "best" else "best"
                advice = (f" Try the {other!r} checkpoint (zoo evaluate "
                          f"--checkpoint {other}, zoo export --which {other}),"
                          " or resume or retrain the run."
                          if os.path.exists(self.file(CHECKPOINTS[other]))
                          else " Resume or retrain the run.")
                what = ("cannot load this checkpoint, which may be damaged "
                        "(a truncated or edited file)" if damaged else
                        "this version of the zoo cannot load this checkpoint")
                raise RunDirError(f"{p}: {what}: {type(e).__name__}: "
                                  f"{str(e)[:300]}.{advice}") from e
        return self._models[key]

    @property
    def model(self):
        """`load_model("best")`."""
        return self.load_model("best")

    @property
    def last(self):
        """`load_model("last")`."""
        return self.load_model("last")

    @property
    def history(self) -> list:
        return read_history(self.history_path)

    @property
    def metrics(self):
        """`metrics.json`, or `None` before the run has finished.

        Raises:
            RunDirError: `metrics.json` is not a JSON object.
        """
        if not os.path.exists(self.metrics_path):
            return None
        try:
            with open(self.metrics_path, encoding="utf-8") as f:
                metrics = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RunDirError(
                f"{self.metrics_path}: cannot be read as JSON ({e})") from None
        if not isinstance(metrics, dict):
            raise RunDirError(f"{self.metrics_path}: not a JSON object")
        return metrics


def open_run(run_dir) -> Run:
    """Opens a run directory written by `training.train` (any schema).

    Nothing heavy is read until asked for (`load_model`, `vocabulary`).

    Raises:
        RunDirError: the directory or `config.json` is missing or malformed.
    """
    return Run(run_dir, read_config(run_dir))


def load_run(run_dir, *, load_model=True, load_last=False) -> Run:
    """`open_run`, then loads the checkpoints asked for (and, for language
    models, the vocabulary), so that missing files fail here.

    Raises:
        RunDirError: a missing directory, config, checkpoint or vocabulary.
    """
    run = open_run(run_dir)
    for which, wanted in (("best", load_model), ("last", load_last)):
        if wanted:
            run.checkpoint_path(which)
    run.vocabulary  # noqa: B018  (fails now if vocab.txt is missing)
    if load_model:
        run.load_model("best")
    if load_last:
        run.load_model("last")
    return run


# ---------------------------------------------------------------- writing


def _intact_zip(path) -> bool:
    """Whether `path` is a whole zip archive (a `.keras` file) whose members
    all pass their CRC check."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, EOFError, zipfile.BadZipFile):
        return False


def prepare(run_dir, *, resume, overwrite):
    """Makes `run_dir` ready for a new run, or opens the run to resume.

    Only the chief of a multi-worker run may call this (see
    `training.strategy.is_chief`). With `overwrite`, an existing run is
    checked here but stays in place: `start_new` replaces it when the new
    run writes its first file, so a run that fails before that (a wrong
    `--data`, a model that cannot be built) leaves it as it was.

    Returns:
        The `Run` to resume (`resume=True` and a non-empty `run_dir`), else
        `None` (a new, missing or empty `run_dir` is created).

    Raises:
        RunDirError: `run_dir` is a file; is not empty and neither `resume`
            nor `overwrite` is set; is to be resumed without config; or is
            to be overwritten but is not a run directory (no config), is a
            symbolic link, or is the current directory or one above it.
    """
    run_dir = os.fspath(run_dir)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    exists = os.path.isdir(run_dir) and bool(os.listdir(run_dir))
    if exists and resume:
        if not os.path.exists(path(run_dir, CONFIG)):
            raise RunDirError(
                f"{run_dir}: cannot resume, no {CONFIG} (not a run directory)")
        return open_run(run_dir)
    if exists and not overwrite:
        raise RunDirError(
            f"{run_dir}: run directory exists and is not empty; pass --resume "
            "to continue that run or --overwrite to replace it")
    if exists:
        _check_replaceable(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    return None


def _check_replaceable(run_dir):
    """`RunDirError` unless `run_dir` holds a run that `--overwrite` may delete."""
    if os.path.islink(os.path.normpath(run_dir)):
        raise RunDirError(
            f"{run_dir}: is a symbolic link; --overwrite replaces a run directory "
            "itself, so give the folder it points to")
    here = os.path.realpath(os.getcwd())
    target = os.path.realpath(run_dir)
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        raise RunDirError(
            f"{run_dir}: --overwrite would delete the current directory "
            "(or one above it); choose another RUN_DIR")
    if not os.path.exists(path(run_dir, CONFIG)):
        raise RunDirError(
            f"{run_dir}: is not empty and holds no {CONFIG}, so it is not a run "
            "directory; --overwrite replaces run directories only. Choose "
            "another RUN_DIR, or empty it yourself")
    try:
        read_config(run_dir)
    except RunDirError as e:
        raise RunDirError(
            f"{run_dir}: its {CONFIG} cannot be read as a run's by this "
            f"RNN Zoo ({e}), so --overwrite will not delete this folder. "
            "Choose another RUN_DIR, or empty it yourself") from None


def start_new(run_dir, *, overwrite) -> None:
    """Empties `run_dir` for a new run, just before its first file is written.

    The run that `prepare(..., overwrite=True)` let through is moved aside
    (one rename, so `run_dir` never holds half of it) and then deleted; an
    interrupted delete leaves a hidden `.NAME.replaced-*` folder beside
    `run_dir`, never a mix of two runs.

    Raises:
        RunDirError: `run_dir` is not empty (another run wrote there since
            `prepare`) and `overwrite` is not set, or it is not a run
            directory `--overwrite` may replace.
    """
    run_dir = os.fspath(run_dir)
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        if not overwrite:
            raise RunDirError(
                f"{run_dir}: another run wrote there while this one loaded its "
                "data; pass --overwrite to replace it, or choose another RUN_DIR")
        _check_replaceable(run_dir)
        parent, name = os.path.split(os.path.abspath(run_dir))
        with replacing([os.path.abspath(run_dir)], within=parent, label=name):
            os.makedirs(run_dir)  # a failure here puts the old run back
    os.makedirs(run_dir, exist_ok=True)


def write_vocabulary(run_dir, vocab) -> None:
    """Writes `vocab.txt` (see `training.data.vocab.Vocabulary.save`)."""
    vocab.save(path(run_dir, VOCAB))


def write_warmup_texts(run_dir, texts, *, split) -> None:
    """Writes `warmup_texts.json` (atomically): `{"split": ..., "texts": [...]}`.

    Args:
        run_dir: the run directory.
        texts: a non-empty list of str, e.g. the first validation texts.
        split: the split they come from (`"validation"`, or `"train"` for
            a run without a validation split).

    Raises:
        ValueError: `texts` is not a non-empty list of str.
    """
    if not isinstance(texts, (list, tuple)) or not texts or \
            not all(isinstance(t, str) for t in texts):
        raise ValueError("warmup texts must be a non-empty list of str. "
                         f"Received: {texts!r}")
    atomic_write_json(path(run_dir, WARMUP_TEXTS),
                      {"split": str(split), "texts": list(texts)})


def read_warmup_texts(run_dir):
    """The texts of `RUN_DIR/warmup_texts.json`, or `None` without it.

    Raises:
        RunDirError: the file is not JSON or holds no list of str.
    """
    p = path(run_dir, WARMUP_TEXTS)
    if not os.path.exists(p):
        return None
    try:
        with open(p, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunDirError(f"{p}: cannot be read as JSON ({e})") from None
    texts = raw.get("texts") if isinstance(raw, dict) else None
    if not isinstance(texts, list) or not texts or \
            not all(isinstance(t, str) for t in texts):
        raise RunDirError(f"{p}: expected {{\"texts\": [str, ...]}}")
    return texts


def write_metrics(run_dir, metrics) -> None:
    """Writes `metrics.json` (atomically)."""
    atomic_write_json(path(run_dir, METRICS), metrics)


def save_checkpoint(run_dir, model, which) -> None:
    """Saves `model` (uncompiled) as `model.keras` or `last.keras`."""
    atomic_save_model(model, path(run_dir, CHECKPOINTS[which]))


BACKUP_METADATA = "training_metadata.json"
BACKUP_WEIGHTS = "latest.weights.h5"  # the one name of older backups


def backup_state(backup_dir):
    """`(epoch, weights)` of the backup in `backup_dir`: the epoch a resume
    starts at and the weights file it loads; `(0, None)` without backup.

    Raises:
        RunDirError: `training_metadata.json` is not a JSON object with an
            integer `epoch` >= 0, or names a weights file that is missing
            (a resume would go on from that epoch with fresh weights).
    """
    meta = os.path.join(backup_dir, BACKUP_METADATA)
    if not os.path.exists(meta):
        weights = os.path.join(backup_dir, BACKUP_WEIGHTS)
        return 0, (weights if os.path.exists(weights) else None)
    try:
        with open(meta, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunDirError(f"{meta}: cannot be read as JSON ({e}); the backup "
                          "--resume continues from is damaged") from None
    epoch = record.get("epoch") if isinstance(record, dict) else None
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise RunDirError(f"{meta}: expected an object with an integer "
                          f"\"epoch\" >= 0. Received: {str(record)[:80]}")
    name = os.path.basename(str(record.get("weights") or BACKUP_WEIGHTS))
    weights = os.path.join(backup_dir, name)
    if not os.path.exists(weights):
        if epoch:
            raise RunDirError(
                f"{meta}: the weights of epoch {epoch} ({name}) are missing; "
                f"a resume would go on from epoch {epoch} with fresh weights. "
                "Start the run again (--overwrite) or restore that file")
        weights = None
    return epoch, weights


def backup_epoch(backup_dir) -> int:
    """The epoch a resume from `backup_dir` starts at (0 without backup);
    raises `RunDirError` for a damaged backup (see `backup_state`)."""
    return backup_state(backup_dir)[0]
