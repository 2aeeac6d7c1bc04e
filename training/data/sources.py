"""Resolves SOURCE strings (`tfds:NAME`, a file or a directory)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import os
import socket

from training.data.errors import DataError

TFDS_PREFIX = "tfds:"

# Hosts the TFDS download of each known dataset needs. Anything else is
# probed against the TFDS bucket.
_TFDS_HOSTS = {
    "imdb_reviews": ("ai.stanford.edu", 443),
    "glue": ("dl.fbaipublicfiles.com", 443),
    "tiny_shakespeare": ("raw.githubusercontent.com", 443),
}
_TFDS_DEFAULT_HOST = ("storage.googleapis.com", 443)
_PROBE_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True)
class Source:
    """A resolved data source.

    Attributes:
        spec: the SOURCE string as given.
        kind: one of `"tfds"`, `"csv"`, `"tsv"`, `"text"` (a `.txt` file),
            `"aclimdb"` (an `aclImdb` folder tree) or `"ptb"` (a folder with
            `*.train.txt`, `*.valid.txt` and optionally `*.test.txt`).
        path: absolute path for local sources (for `"aclimdb"` the
            `aclImdb` root itself), `None` for TFDS.
        tfds_name: `NAME[/CONFIG]` for TFDS sources, else `None`.
        files: for `"ptb"`, a dict split name -> file path (`"train"`,
            `"validation"`, optionally `"test"`); empty otherwise.
    """

    spec: str
    kind: str
    path: str | None = None
    tfds_name: str | None = None
    files: dict = dataclasses.field(default_factory=dict)


def recorded_source(source) -> str:
    """What a run directory or a search records for a SOURCE: a local path
    made absolute, so that a later command (`--resume`, `zoo evaluate`,
    `--export-best`) finds it from any directory; `tfds:NAME` as given.

    Args:
        source: the SOURCE string (or a path-like object), as typed.

    Returns:
        The string to record. Nothing is checked or read.

    Example:

    ```python
    recorded_source("tfds:imdb_reviews")  # "tfds:imdb_reviews"
    recorded_source("data/train.csv")     # "/home/me/project/data/train.csv"
    ```
    """
    spec = os.fspath(source)
    if spec.startswith(TFDS_PREFIX):
        return spec
    return os.path.abspath(os.path.expanduser(spec))


def _is_aclimdb_root(path: str) -> bool:
    return all(
        os.path.isdir(os.path.join(path, "train", c)) for c in ("pos", "neg")
    )


def _ptb_files(path: str) -> dict | None:
    found = {}
    for split, suffix in (
        ("train", "train"),
        ("validation", "valid"),
        ("test", "test"),
    ):
        matches = sorted(glob.glob(os.path.join(glob.escape(path), f"*.{suffix}.txt")))
        if len(matches) > 1:
            raise DataError(
                f"several *.{suffix}.txt files found ({', '.join(map(os.path.basename, matches))}); "
                "keep one per split",
                path=path,
            )
        if matches:
            found[split] = matches[0]
    if not found:
        return None
    if "train" not in found or "validation" not in found:
        raise DataError(
            "a language-model folder needs both *.train.txt and *.valid.txt "
            f"(found: {', '.join(sorted(os.path.basename(f) for f in found.values()))})",
            path=path,
        )
    return found


def resolve_source(source) -> Source:
    """Resolves a SOURCE string to a `Source`.

    SOURCE is one of:

    - `tfds:NAME[/CONFIG]`, e.g. `tfds:imdb_reviews`, `tfds:glue/sst2`,
      `tfds:tiny_shakespeare` (needs internet the first time);
    - a `.csv`, `.tsv` or `.txt` file;
    - an `aclImdb` folder tree (`aclImdb/{train,test}/{pos,neg}/*.txt`),
      given as the `aclImdb` folder or as its parent;
    - a PTB-style folder with `*.train.txt`, `*.valid.txt` and optionally
      `*.test.txt`.

    Args:
        source: the SOURCE string (or a path-like object).

    Returns:
        A `Source`. Nothing is read yet, except directory listings.

    Raises:
        DataError: if the path does not exist or is not a recognised layout.

    Example:

    ```python
    resolve_source("../shared/data/ptb").kind  # "ptb"
    ```
    """
    if isinstance(source, Source):
        return source
    spec = os.fspath(source)
    if not isinstance(spec, str) or not spec.strip():
        raise DataError("empty data source; pass tfds:NAME, a file or a folder")
    if spec.startswith(TFDS_PREFIX):
        name = spec[len(TFDS_PREFIX):].strip().strip("/")
        if not name:
            raise DataError(f"{spec!r}: missing dataset name after 'tfds:'")
        return Source(spec=spec, kind="tfds", tfds_name=name)

    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.exists(path):
        raise DataError("data source does not exist", path=spec)
    if os.path.isdir(path):
        if _is_aclimdb_root(path):
            return Source(spec=spec, kind="aclimdb", path=path)
        sub = os.path.join(path, "aclImdb")
        if os.path.isdir(sub) and _is_aclimdb_root(sub):
            return Source(spec=spec, kind="aclimdb", path=sub)
        files = _ptb_files(path)
        if files is not None:
            return Source(spec=spec, kind="ptb", path=path, files=files)
        raise DataError(
            "folder is not a recognised dataset layout: expected "
            "aclImdb/{train,test}/{pos,neg}/*.txt (the aclImdb folder or its "
            "parent) or *.train.txt + *.valid.txt (+ *.test.txt)",
            path=spec,
        )
    ext = os.path.splitext(path)[1].lower()
    kinds = {".csv": "csv", ".tsv": "tsv", ".txt": "text"}
    if ext not in kinds:
        raise DataError(
            f"unsupported file type {ext or '(no extension)'!r}; "
            "expected .csv, .tsv or .txt",
            path=spec,
        )
    return Source(spec=spec, kind=kinds[ext], path=path)


# --------------------------------------------------------------------- TFDS


def host_reachable(host: str, port: int, timeout: float) -> bool:
    """Returns whether a TCP connection to `host:port` opens within `timeout`.

    The one network probe of the project. It runs in a worker thread so
    that a hanging DNS lookup cannot block longer than `timeout`. Tests
    monkeypatch this function.
    """

    def probe():
        with socket.create_connection((host, port), timeout=timeout):
            return True

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return bool(pool.submit(probe).result(timeout=timeout))
    except Exception:  # noqa: BLE001 - any failure means "offline"
        return False
    finally:
        pool.shutdown(wait=False)


def tfds_download_reachable(name: str, timeout: float = _PROBE_TIMEOUT_S) -> bool:
    """Whether the host a TFDS dataset downloads from answers (`host_reachable`)."""
    host, port = _TFDS_HOSTS.get(name.split("/")[0], _TFDS_DEFAULT_HOST)
    return host_reachable(host, port, timeout)


def tfds_builder(name: str, data_dir: str | None = None):
    """Returns the TFDS builder for `name`, failing fast when offline.

    If the dataset is not prepared in the local TFDS data dir and its
    download host cannot be reached within a few seconds, raises a clear
    `DataError` instead of letting `tfds.load` hang for minutes.

    Args:
        name: `NAME[/CONFIG]`, e.g. `"glue/sst2"`.
        data_dir: TFDS data dir. Defaults to `None` (TFDS default,
            `~/tensorflow_datasets` or `$TFDS_DATA_DIR`).

    Returns:
        A `tfds.core.DatasetBuilder`.
    """
    import tensorflow_datasets as tfds

    _check_config_named(name)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError, bad config, ...
        raise DataError(f"tfds:{name}: unknown TFDS dataset ({e})") from None
    if not builder.is_prepared():
        host, _ = _TFDS_HOSTS.get(name.split("/")[0], _TFDS_DEFAULT_HOST)
        if not tfds_download_reachable(name):
            raise DataError(
                f"tfds:{name} is not downloaded in {builder.data_dir} and "
                f"{host} cannot be reached (offline?). Pass a local path "
                "instead, e.g. a CSV/TSV file, an aclImdb folder, a PTB "
                "folder or a .txt file."
            )
    return builder


def _check_config_named(name: str) -> None:
    """Refuses `NAME` (or `NAME:VERSION`) of a dataset with several
    configurations and no default: TFDS would load the first one
    (`tfds:glue` is CoLA)."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import naming

    try:
        ds_name, kwargs = naming.parse_builder_name_kwargs(name)
        if "config" in kwargs or ":" in str(ds_name):  # namespaced: remote
            return
        cls = tfds.builder_cls(str(ds_name))
    except Exception:  # noqa: BLE001 - tfds.builder reports unknown names
        return
    configs = [c.name for c in (getattr(cls, "BUILDER_CONFIGS", None) or ())]
    if len(configs) > 1 and not getattr(cls, "DEFAULT_BUILDER_CONFIG_NAME",
                                        None):
        raise DataError(
            f"tfds:{name} has {len(configs)} configurations and no default; "
            f"name one, e.g. tfds:{ds_name}/{configs[0]}. "
            f"Configurations: {', '.join(configs)}")


def tfds_split_examples(name: str, split: str, data_dir: str | None = None):
    """Loads `split` of TFDS dataset `name` with `tfds.load`; numpy examples.

    Downloads and prepares the dataset on first use (call `tfds_builder`
    first to fail fast when offline).
    """
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False)
    return tfds.as_numpy(ds)
