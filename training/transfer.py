"""Starting a classifier from what was learned elsewhere.

- `--init-from LM_RUN_DIR` (SA-LSTM, Dai & Le 2015; ULMFiT, Howard & Ruder
  2018): a classifier takes a word-level language model's vocabulary,
  tokenisation, embedding and recurrent stack. The classifier's
  `TextVectorization` holds the LM's vocabulary (padding at 0, `[UNK]` at
  1, then the LM's tokens in the LM's order without `<unk>` and `<eos>`),
  and standardises text as the LM's corpus was standardised (reviews:
  `training.data.vocab.text_tokens`), so raw strings still go in and both
  models see the same tokens. Embedding row `tv_id(t)` is the LM's row
  `lm_id(t)` for every LM token `t`; `[UNK]` takes `<unk>`'s row.
- `--embeddings FILE`: word vectors in the GloVe / word2vec text format
  (`word v1 ... vd` per line; a word2vec `count dim` first line is
  skipped) initialise the embedding rows of the words they cover.
- `--init-from LM_RUN_DIR` on a language model (ULMFiT's second stage): the
  new LM keeps the source LM's vocabulary, tokenisation and every weight,
  and goes on training on its own corpus (e.g. the IMDB LM fine-tuned on
  SST-2's training sentences before a classifier starts from it).

Every LM run records the corpora its weights have read (`corpora`): its
own corpus and added texts, and those of the LM it started from, so that a
classifier's held-out check (`check_held_out`) follows the whole chain.

The LM run is read through `training.run_dir`, its owner.
"""

from __future__ import annotations

import os

import numpy as np

from training.data.errors import DataError

PAD_ID, UNK_ID = 0, 1
# What a classifier copies from the LM must have the same shape in both.
SHAPE_KEYS = ("embedding_dim", "cell", "units", "num_layers", "connection",
              "layer_norm", "projection")
# What a configuration without the key means (runs written before it).
_SHAPE_DEFAULTS = {"connection": "none", "layer_norm": False,
                   "projection": None}


class TransferError(ValueError):
    """`--init-from` a run that cannot start this classifier."""


def open_language_model(run_dir, *, word_level=True):
    """The LM run at `run_dir`, checked to be a finished (word-level) LM.

    Args:
        run_dir: the LM's RUN_DIR.
        word_level: refuse a character-level LM (a classifier's vocabulary
            is words). Defaults to `True`.

    Raises:
        TransferError: missing directory, not a run, a classifier run, a
            character-level LM, or no `model.keras` / `vocab.txt`.
    """
    from training import run_dir as rd

    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise TransferError(f"--init-from {run_dir}: no such run directory")
    try:
        run = rd.open_run(run_dir)
    except rd.RunDirError as e:
        raise TransferError(f"--init-from {run_dir}: {e}") from None
    if run.family != "language_model":
        raise TransferError(
            f"--init-from {run_dir}: it is a {run.family} run "
            f"({run.preset!r}); --init-from starts from a language model run "
            "(e.g. zoo train imdb_lm --data ../shared/data/imdb/unsup.csv)")
    if run.level != "word" and word_level:
        raise TransferError(
            f"--init-from {run_dir}: a {run.level}-level language model; a "
            "classifier's vocabulary is words, so it needs a word-level one")
    for what, path in (("model.keras", run.best_path),
                       ("vocab.txt", run.vocab_path)):
        if not os.path.exists(path):
            raise TransferError(f"--init-from {run_dir}: {what} is missing "
                                "(has the run finished an epoch?)")
    return run


def corpora(run) -> list:
    """The corpora whose texts the LM run's weights have read.

    Its own corpus (a `.csv`/`.tsv` file of texts or a `.txt` file; its
    last share was validation, the rest trained on; PTB folders and TFDS
    datasets are not listed), its `--add-texts` file (with the carve it
    left out), then what the LM it started from (`--init-from`) had read,
    as its `config.json` records it.

    Raises:
        TransferError: a run written before corpus digests were recorded
            names a `.csv`/`.tsv` corpus that cannot be read here.

    Returns:
        A list of `{"source", "sha256", "role", "leave_out"}`: `role` is
        `"corpus"` or `"added"`; `leave_out` is the carve by group an added
        file left out, else `None`.
    """
    from training.data.files import file_sha256
    from training.data.sources import resolve_source

    found = []
    data = run.data
    digest = data.get("sha256")
    source = data.get("source") or ""
    if digest is None and source.lower().endswith((".csv", ".tsv")):
        # Runs written before the corpus's digest was recorded hash the
        # file they name; one that cannot be read is not passed over.
        try:
            digest = file_sha256(resolve_source(source).path)
        except DataError as e:
            raise TransferError(
                f"--init-from {run.run_dir}: the language model was trained "
                f"on {source}, which cannot be read here ({e}); its run "
                "predates the corpus digest in config.json, so which texts "
                "it read cannot be checked. Run from the directory it was "
                "trained in, or restore the file.") from None
    if digest is not None:
        found.append({"source": data.get("source"), "sha256": digest,
                      "role": "corpus", "leave_out": None})
    added = data.get("added_texts")
    if added:
        found.append({"source": added["source"], "sha256": added["sha256"],
                      "role": "added", "leave_out": added.get("leave_out")})
    found.extend(dict(c) for c in _inherited(run))
    return found


class _Digests:
    """SHA-256 of the `.csv`/`.tsv` files named by SOURCE strings, each
    file read once."""

    def __init__(self):
        self._seen = {}

    def of(self, spec):
        from training.data.files import file_sha256
        from training.data.sources import resolve_source

        if spec not in self._seen:
            try:
                src = resolve_source(spec)
            except DataError:
                src = None
            self._seen[spec] = (file_sha256(src.path) if src is not None
                                and src.kind in ("csv", "tsv", "text")
                                else None)
        return self._seen[spec]


def _inherited(run) -> list:
    """The corpora the LM `run` started from had read (`config.json`)."""
    return (((run.config.get("transfer") or {}).get("init_from") or {})
            .get("corpora") or [])


def check_held_out(run, data, *, validation_data, validation_group,
                   validation_split, seed) -> None:
    """Refuses a classifier whose validation texts the LM was trained on.

    A language model read its corpora (`corpora`): its own `.csv`/`.tsv`
    corpus, the texts of `--add-texts FILE` except the validation carve it
    left out (`--leave-out-group`), and whatever the LM it started from had
    read. A classifier started from it may not validate on any of those
    files (`--validation-data FILE`); it may validate on a carve of an added
    FILE only if it is the carve left out (group, share and seed), and on
    no carve of a corpus. Files are compared by content.

    Args:
        run: the LM `Run`.
        data: the classifier's SOURCE.
        validation_data, validation_group, validation_split: the
            classifier's carve, as `zoo train` takes them.
        seed: the seed of its carve (`--validation-seed`, else `--seed`).

    Raises:
        TransferError: the classifier's validation texts were in the LM's
            corpora; the message says how to carve as the LM did.
    """
    every = corpora(run)
    own = len(every) - len(_inherited(run))
    digests = _Digests()
    mine = {"group": validation_group, "fraction": float(validation_split),
            "seed": int(seed)}
    for i, corpus in enumerate(every):
        via = "" if i < own else " (through the language model it started from)"
        seen = (f"--init-from {run.run_dir}: the language model was trained "
                f"on the texts of {corpus['source']}{via}")
        if validation_data is not None:
            if digests.of(validation_data) == corpus["sha256"]:
                raise TransferError(
                    f"{seen}, so they cannot validate this classifier "
                    f"(--validation-data {validation_data}). Validate on a "
                    "file the LM did not read.")
            continue
        if digests.of(data) != corpus["sha256"]:
            continue
        if corpus["role"] == "corpus":
            raise TransferError(
                f"{seen} (its corpus), and this classifier carves its "
                f"validation from that file ({mine}): pretraining saw its "
                "validation texts. Validate on another file "
                "(--validation-data).")
        leave = corpus.get("leave_out")
        if leave is None:
            raise TransferError(
                f"{seen}, all of them (no --leave-out-group), and this "
                f"classifier carves its validation from that file ({mine}): "
                "pretraining saw its validation texts. Validate on another "
                "file (--validation-data) or pretrain with --leave-out-group.")
        theirs = {k: leave[k] for k in ("group", "fraction", "seed")}
        if mine != theirs:
            raise TransferError(
                f"{seen} except the validation carve {theirs}; this "
                f"classifier carves {mine}, so pretraining saw some of its "
                f"validation texts. Carve as the LM did: --validation-group "
                f"{theirs['group']} --validation-split {theirs['fraction']:g} "
                f"--validation-seed {theirs['seed']} (any --seed).")


def classifier_vocabulary(lm_vocab) -> list:
    """The LM's tokens as a `TextVectorization` vocabulary (without the
    padding and OOV entries it adds itself, `<unk>` and `<eos>`)."""
    from training.data.vocab import EOS_TOKEN

    return [t for t in lm_vocab.tokens if t not in (lm_vocab.oov_token, EOS_TOKEN)]


def classifier_overrides(run, preset_config, overrides) -> dict:
    """Model arguments that give the classifier the LM's vocabulary.

    Args:
        run: the LM `Run` (`open_language_model`).
        preset_config: the classifier's configuration (preset and `--set`).
        overrides: what the user set on the command line.

    Returns:
        `{"vocabulary_size": n, "standardize": s, "reverse": r}`: the
        classifier reads its texts in the LM's direction (`reverse=True`
        from a backward LM); `copy_language_model` then sets the
        vocabulary itself.

    Raises:
        TransferError: the classifier's shape (embedding width, cell,
            units, layers, connection, layer norm, projection,
            `bidirectional`) differs from the LM's,
            or the user set another vocabulary size, standardisation or
            direction (`reverse`);
            the message gives both configurations.
    """
    lm = run.model_config
    mine = {k: preset_config.get(k, _SHAPE_DEFAULTS.get(k))
            for k in SHAPE_KEYS}
    theirs = {k: lm.get(k, _SHAPE_DEFAULTS.get(k)) for k in SHAPE_KEYS}
    if theirs.get("connection") is None:
        theirs["connection"] = "none"
    problems = [k for k in SHAPE_KEYS if mine[k] != theirs[k]]
    if preset_config.get("bidirectional"):
        problems.append("bidirectional")
    if problems:
        raise TransferError(
            f"--init-from {run.run_dir}: the classifier cannot take this "
            f"language model's weights; they differ in {problems}. "
            f"Classifier: {dict(mine, bidirectional=preset_config.get('bidirectional'))}; "
            f"language model ({run.preset!r}): {dict(theirs, bidirectional=False)}. "
            "Set the classifier to the LM's shape (--set KEY=VALUE, "
            "bidirectional=false).")
    vocab = run.vocabulary
    standardize = run.data.get("standardize")
    tokens = classifier_vocabulary(vocab)
    size = len(tokens) + 2
    reverse = run.reverse
    taken = {"vocabulary_size": size, "standardize": standardize,
             "reverse": reverse}
    for key, value in taken.items():
        if key in overrides and overrides[key] != value:
            raise TransferError(
                f"--init-from {run.run_dir}: the classifier takes the LM's "
                f"{key} ({value!r}). Received: {key}={overrides[key]!r}")
    return taken


def vocabulary_digest(run):
    """SHA-256 of a run's `vocab.txt` (`None` without one): recorded when a
    classifier starts from the LM, checked when it resumes."""
    import hashlib

    try:
        with open(run.vocab_path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def check_resumed_source(stored, run, *, backed_up=True) -> None:
    """A resumed classifier (`stored`) goes on from the LM `run` it started
    from: the same vocabulary (its digest, recorded when the run started;
    the LM may have moved) and the same direction (`reverse`). The
    classifier's token ids index embedding rows learned under that
    vocabulary; the backup restores only the weights. A run without a
    backup yet (`backed_up=False`) starts again from the LM's weights, so
    it takes them from the LM it started from, in the folder recorded. A
    run recorded before the digest is checked by its LM's folder.

    Raises:
        TransferError: the run started without a language model, from one
            with another vocabulary, or from one whose vocabulary has
            changed since (retrained on other text); or one reads backwards
            and the other does not; or its LM cannot be told apart from
            another (an older record whose folder is gone).
    """
    mine, theirs = stored.reverse, run.reverse
    if mine != theirs:
        started = ((stored.config.get("transfer") or {}).get("init_from")
                   or {}).get("run_dir")
        raise TransferError(
            f"--resume {stored.run_dir}: the run reads its texts "
            f"{'backwards' if mine else 'forwards'} (reverse={mine}), but "
            f"--init-from {run.run_dir} is a "
            f"{'backward' if theirs else 'forward'} language model "
            f"(reverse={theirs}). Resume with the LM it started from"
            f"{f' ({started})' if started else ''}.")
    record = (stored.config.get("transfer") or {}).get("init_from")
    if not record:
        raise TransferError(
            f"--resume {stored.run_dir}: the run started without --init-from; "
            f"--init-from {run.run_dir} would replace the vocabulary its "
            "embedding rows were trained with. Resume without --init-from.")
    started = record.get("run_dir")
    digest = record.get("vocabulary_sha256")
    same_dir = _same_dir(started, run.run_dir)
    if digest and vocabulary_digest(run) != digest:
        if same_dir is True:
            raise TransferError(
                f"--resume {stored.run_dir}: the vocabulary of {run.run_dir} "
                "has changed since the run started from it (retrained on "
                "other text?); its token ids would no longer match the run's "
                "embedding rows. Start the classifier again (--overwrite).")
        raise TransferError(
            f"--resume {stored.run_dir}: the run started from --init-from "
            f"{started}, and {run.run_dir} has another vocabulary; its token "
            "ids would not match the run's embedding rows. Resume with the "
            "LM it started from.")
    if not digest and same_dir is not True:  # recorded before the digest
        raise TransferError(
            f"--resume {stored.run_dir}: the run started from --init-from "
            f"{started}, not {run.run_dir} (or that folder is gone). Resume "
            "with the LM it started from.")
    if not backed_up and same_dir is not True:
        raise TransferError(
            f"--resume {stored.run_dir}: the run stopped before its first "
            f"backup, so it starts again from its LM's weights: those of "
            f"{started}, not {run.run_dir}. Resume with the LM it started "
            "from, or start the run again (--overwrite).")


def _same_dir(a, b):
    """Whether two paths name one folder; `None` when `a` is not given or
    no longer exists (a relative path recorded elsewhere)."""
    if not a or not os.path.isdir(a) or not os.path.isdir(b):
        return None
    return os.path.samefile(a, b)


def copy_language_model(classifier, run) -> dict:
    """Gives `classifier` the LM's vocabulary, embedding rows and stack.

    Returns:
        A report for the run directory: rows and variables copied.
    """
    lm = run.load_model()
    vocab = run.vocabulary
    # Set after construction, as `adapt` does: a vocabulary passed to the
    # constructor under a tf.distribute scope leaves the lookup table
    # uninitialised in the training function.
    classifier.vectorizer.set_vocabulary(classifier_vocabulary(vocab))
    tv = {t: i for i, t in enumerate(classifier.get_vocabulary())}
    lm_table = np.asarray(lm.get_layer("embedding").embeddings)
    emb = classifier.get_layer("embedding")
    table = np.array(emb.embeddings)
    if table.shape[1] != lm_table.shape[1]:
        raise TransferError(f"embedding widths differ: classifier "
                            f"{table.shape[1]}, LM {lm_table.shape[1]}")
    rows = 0
    for lm_id, token in enumerate(vocab.tokens):
        if token == vocab.oov_token:
            table[UNK_ID] = lm_table[lm_id]
            rows += 1
        elif token in tv:
            table[tv[token]] = lm_table[lm_id]
            rows += 1
    emb.embeddings.assign(table)
    mine = classifier.get_layer("recurrent_stack").weights
    theirs = lm.get_layer("recurrent_stack").weights
    if [tuple(v.shape) for v in mine] != [tuple(v.shape) for v in theirs]:
        raise TransferError(
            "recurrent stacks differ: classifier "
            f"{[tuple(v.shape) for v in mine]}, LM {[tuple(v.shape) for v in theirs]}")
    for a, b in zip(mine, theirs):
        a.assign(np.asarray(b))
    return {"run_dir": os.path.abspath(run.run_dir), "preset": run.preset,
            "vocabulary_sha256": vocabulary_digest(run),
            "embedding_rows": rows, "stack_variables": len(mine),
            "standardize": run.data.get("standardize"),
            "vocabulary_size": len(tv)}


# --------------------------------------------- a language model from an LM

# What must match for a language model to take another's every weight.
# (`reverse`: a backward LM goes on reading backwards.)
LM_SHAPE_KEYS = SHAPE_KEYS + ("tie_weights", "level", "reverse",
                               "adaptive_cutoffs", "adaptive_div_value")


def language_model_overrides(run, overrides) -> dict:
    """Model arguments that give a language model the source LM's shape.

    The new LM takes the source's vocabulary size and everything else that
    sizes a weight (`LM_SHAPE_KEYS`); its preset and `--set` still give
    the dropouts and other regularisers.

    Args:
        run: the source LM `Run` (`open_language_model`).
        overrides: what the user set on the command line (`--set`).

    Returns:
        `{"vocabulary_size": n, "embedding_dim": ..., "cell": ..., ...}`.

    Raises:
        TransferError: the user set a shape key or the vocabulary size to
            another value (the message gives both configurations), or the
            source's `config.json` does not record its vocabulary size.
    """
    lm = run.model_config
    defaults = dict(_SHAPE_DEFAULTS, tie_weights=True, level="word",
                    reverse=False, adaptive_cutoffs=None,
                    adaptive_div_value=4.0)
    theirs = {k: lm.get(k, defaults.get(k)) for k in LM_SHAPE_KEYS}
    if theirs.get("connection") is None:
        theirs["connection"] = "none"
    if lm.get("vocabulary_size") is None:
        raise TransferError(
            f"--init-from {run.run_dir}: its config.json has no "
            "model_config.vocabulary_size, which every language-model run "
            "records; the file was changed after training. Restore it, or "
            "start from another run.")
    theirs["vocabulary_size"] = int(lm["vocabulary_size"])
    problems = [k for k in theirs if k in overrides and overrides[k] != theirs[k]]
    if problems:
        mine = {k: overrides[k] for k in problems}
        raise TransferError(
            f"--init-from {run.run_dir}: a language model goes on with the "
            f"source's shape and vocabulary; they differ in {problems}. "
            f"Received: {mine}; source ({run.preset!r}): {theirs}. Leave "
            "these out of --set (the source's are taken).")
    return theirs


def check_new_corpus(run, data) -> None:
    """Refuses a corpus standardised otherwise than the source LM's, and a
    corpus the source already read: the new run's validation (the corpus's
    last share) would not be held out from its weights."""
    from training.data.language_modeling import REVIEW_STANDARDIZE
    from training.data.sources import resolve_source

    try:
        kind = resolve_source(data).kind
    except DataError:
        kind = None  # the loader gives the error
    if kind is not None:
        standardize = REVIEW_STANDARDIZE if kind in ("csv", "tsv") else None
        _check_standardize(run, standardize, data)
    digest = _Digests().of(data)
    for corpus in corpora(run):
        if digest is not None and digest == corpus["sha256"]:
            raise TransferError(
                f"--init-from {run.run_dir}: that language model has read "
                f"{corpus['source']} ({corpus['role']}), the file given as "
                f"this one's corpus ({data}), so this run's validation texts "
                "would not be held out. Train on a corpus the source did not "
                "read.")


def _check_standardize(run, standardize, source):
    """The new corpus must be tokenised as the source LM's was."""
    theirs = run.data.get("standardize")
    if standardize != theirs:
        raise TransferError(
            f"--init-from {run.run_dir}: its corpus was standardised "
            f"{theirs!r}, this corpus ({source}) {standardize!r}; the tokens "
            "would not match the vocabulary. Train on a corpus of the same "
            "kind.")


def copy_language_model_weights(model, run) -> dict:
    """Gives the language model `model` every weight of the LM `run`.

    Weights are matched by path (`embedding/embeddings`, `recurrent_stack/
    ...`); the two models must hold the same paths and shapes.

    Returns:
        A report for the run directory: the source, the variables copied
        and the corpora the weights have read (`corpora`).

    Raises:
        TransferError: the weights differ in paths or shapes.
    """
    source = run.load_model()
    theirs = {v.path: v for v in source.weights}
    mine = {v.path: v for v in model.weights}
    shapes = lambda d: {k: tuple(v.shape) for k, v in d.items()}  # noqa: E731
    if shapes(mine) != shapes(theirs):
        raise TransferError(
            f"--init-from {run.run_dir}: the weights differ: new "
            f"{shapes(mine)}, source {shapes(theirs)}")
    for key, var in mine.items():
        var.assign(np.asarray(theirs[key]))
    return {"run_dir": os.path.abspath(run.run_dir), "preset": run.preset,
            "variables": len(mine), "standardize": run.data.get("standardize"),
            "vocabulary_size": len(run.vocabulary), "corpora": corpora(run)}


# ------------------------------------------------------------ word vectors


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_word_vectors(path, dim, wanted=None):
    """`{word: vector}` from a GloVe / word2vec text file.

    Args:
        path: the file: `word v1 ... v_dim` per line (UTF-8); a word2vec
            header line `count dim` is allowed.
        dim: the embedding width the vectors must have.
        wanted: optional set of words to keep (others are skipped, but
            their lines are still checked).

    Raises:
        DataError: a line of the wrong width, a value that is not a
            number, a file without vectors; it names the file and the line.

    A word may hold spaces (GloVe 840B's `. . .`): on a line after the first
    vector, the last `dim` fields are the vector and the rest is the word.
    A byte-order mark before the first line is skipped.
    """
    vectors, lines_read = {}, 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"not UTF-8 ({e.reason} at byte {e.start})",
                                path=path, line=lineno) from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark
            if not line.strip():
                continue
            parts = line.rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                if int(parts[1]) != dim:
                    raise DataError(
                        f"word2vec header says {parts[1]}-dimensional vectors; "
                        f"the embedding is {dim}-dimensional", path=path, line=1)
                continue
            if len(parts) > dim + 1 and lines_read and \
                    not all(_is_number(p) for p in parts[1:-dim]):
                # a word with spaces in it (GloVe 840B has `. . .`); a line
                # with extra numbers, or a wider first line, is still an error
                parts = [" ".join(parts[:-dim])] + parts[-dim:]
            if len(parts) != dim + 1:
                raise DataError(
                    f"expected a word and {dim} numbers (the embedding width), "
                    f"found {len(parts) - 1} values", path=path, line=lineno)
            lines_read += 1
            word = parts[0]
            if wanted is not None and word not in wanted:
                continue
            try:
                vec = np.asarray([float(p) for p in parts[1:]], np.float32)
            except ValueError:
                raise DataError("a vector value is not a number",
                                path=path, line=lineno) from None
            if not np.all(np.isfinite(vec)):
                raise DataError("a vector value is not finite", path=path,
                                line=lineno)
            vectors.setdefault(word, vec)
    if not lines_read:
        raise DataError("no word vectors in the file", path=path)
    return vectors


def load_word_vectors(classifier, path) -> dict:
    """Initialises `classifier`'s embedding rows from the vectors in `path`.

    A vocabulary word takes the vector of the same word, else of its
    lower-cased form. Rows of words the file lacks keep their random
    initialisation.

    Returns:
        `{"file", "found", "vocabulary", "coverage"}`.
    """
    if os.path.isdir(path):
        raise DataError("is a folder; --embeddings takes a GloVe or word2vec "
                        "text file", path=path)
    if not os.path.isfile(path):
        raise DataError("embeddings file does not exist", path=path)
    emb = classifier.get_layer("embedding")
    table = np.array(emb.embeddings)
    vocabulary = classifier.get_vocabulary()
    words = set(vocabulary[2:])
    vectors = read_word_vectors(path, table.shape[1],
                                wanted=words | {w.lower() for w in words})
    found = 0
    for i, word in enumerate(vocabulary):
        if i < 2:
            continue
        vec = vectors.get(word)
        if vec is None:
            vec = vectors.get(word.lower())
        if vec is not None:
            table[i] = vec
            found += 1
    emb.embeddings.assign(table)
    n = max(len(vocabulary) - 2, 0)
    return {"file": os.path.abspath(os.fspath(path)), "found": found,
            "vocabulary": n,
            "coverage": round(found / n, 4) if n else 0.0}
