"""TensorFlow Serving configuration files for an RNN Zoo models directory.

A models directory (``MODELS_DIR``) follows TensorFlow Serving's layout::

    models.config              text ModelServerConfig, one entry per model
    batching.config            text BatchingParameters
    NAME/<integer version>/    saved_model.pb, variables/, assets/

This module writes and reads those two text-format protobuf files (and
``models.docker.config``, the same entries with the container's paths). Every
write is atomic (temporary file in the same directory, then ``os.replace``)
because ``tensorflow_model_server`` (``--model_config_file_poll_wait_seconds``)
and :mod:`serving.server` re-read ``models.config`` while it is being updated.
Everything written is parsed back with the protobuf definitions before it
replaces the previous file, so a bad value never reaches the server. A change
to ``models.config`` (read, change, write) holds an exclusive lock on
``.models.config.lock`` beside it, so two exports at once both keep their
entry.

Only ``protobuf`` and ``tensorflow-serving-api``'s config protos are imported
(no TensorFlow), so this module is cheap to import.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from typing import Iterable, Mapping

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf import wrappers_pb2

from training.atomic import atomic_write_text
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
from tensorflow_serving.config import model_server_config_pb2

MODELS_CONFIG = "models.config"
BATCHING_CONFIG = "batching.config"
DOCKER_MODELS_CONFIG = "models.docker.config"
_LOCK_FILE = ".models.config.lock"
# Files the models directory keeps beside the models' folders.
RESERVED_NAMES = frozenset({MODELS_CONFIG, BATCHING_CONFIG,
                            DOCKER_MODELS_CONFIG, _LOCK_FILE})

DEFAULT_REST_PORT = 8501
DEFAULT_GRPC_PORT = 8500
DEFAULT_POLL_WAIT_SECONDS = 1

# Model names must be usable in REST paths: TF Serving's route regex is
# /v1/models/([^/:]+)..., so "/" and ":" can never be addressed.
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")

__all__ = [
    "ConfigError",
    "MODELS_CONFIG",
    "BATCHING_CONFIG",
    "latest",
    "all_versions",
    "specific",
    "read_models_config",
    "update_models_config",
    "remove_model",
    "config_lock",
    "model_entries",
    "write_batching_config",
    "read_batching_config",
    "BatchingParameters",
    "serving_command",
    "docker_command",
]


class ConfigError(ValueError):
    """A serving config file or a value destined for one is invalid."""


def valid_name(name) -> bool:
    """Whether `name` can name a model or a version label: letters, digits,
    `_`, `-` and `.` (TF Serving's REST routes cannot address `/` or `:`),
    but not `.` or `..`, which would name the models directory or its
    parent, and which a URL path cannot carry."""
    return (isinstance(name, str) and bool(_NAME_RE.match(name))
            and name not in (".", ".."))


# ---------------------------------------------------------------------------
# Version policies.
# ---------------------------------------------------------------------------


def latest(num_versions: int = 1) -> dict:
    """Version policy serving the ``num_versions`` highest versions.

    Args:
        num_versions: how many of the newest versions to serve (>= 1).

    Returns:
        A policy dict accepted by :func:`update_models_config`.
    """
    return {"latest": int(num_versions)}


def all_versions() -> dict:
    """Version policy serving every integer version directory."""
    return {"all": True}


def specific(*versions: int) -> dict:
    """Version policy serving exactly the given versions.

    Args:
        *versions: integer versions (>= 0), e.g. ``specific(1, 3)``.
    """
    if len(versions) == 1 and isinstance(versions[0], (list, tuple, set)):
        versions = tuple(versions[0])
    return {"specific": [int(v) for v in versions]}


def _apply_version_policy(model_config, policy) -> None:
    """Sets ``model_config.model_version_policy`` from a policy description.

    Accepted forms: ``"latest"`` (N=1), ``"all"``, ``{"latest": N}``,
    ``{"all": True}``, ``{"specific": [v, ...]}`` or a
    ``FileSystemStoragePathSourceConfig.ServableVersionPolicy`` proto.
    """
    mvp = model_config.model_version_policy
    if hasattr(policy, "DESCRIPTOR"):
        mvp.CopyFrom(policy)
        return
    if isinstance(policy, str):
        policy = {"latest": 1} if policy == "latest" else (
            {"all": True} if policy == "all" else policy)
    if not isinstance(policy, Mapping) or len(policy) != 1:
        raise ConfigError(
            f"Invalid version_policy {policy!r}: expected 'latest', 'all', "
            "{'latest': N}, {'all': True} or {'specific': [versions]}.")
    (kind, value), = policy.items()
    mvp.Clear()
    if kind == "latest":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"Invalid version_policy {policy!r}: 'latest' needs an "
                "integer number of versions >= 1.")
        mvp.latest.num_versions = value
    elif kind == "all":
        mvp.all.SetInParent()
    elif kind == "specific":
        versions = list(value) if isinstance(value, Iterable) else None
        if not versions or any(isinstance(v, bool) or not isinstance(v, int)
                               or v < 0 for v in versions):
            raise ConfigError(
                f"Invalid version_policy {policy!r}: 'specific' needs a "
                "non-empty list of integer versions >= 0.")
        mvp.specific.versions.extend(sorted(set(versions)))
    else:
        raise ConfigError(
            f"Invalid version_policy kind {kind!r}: expected 'latest', 'all' "
            "or 'specific'.")


# ---------------------------------------------------------------------------
# models.config
# ---------------------------------------------------------------------------


def _config_path(path, filename) -> str:
    path = os.fspath(path)
    return os.path.join(path, filename) if os.path.isdir(path) else path


def _parse_text(path: str, text: str, message):
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as e:
        raise ConfigError(
            f"Malformed {message.DESCRIPTOR.full_name} in {path}: {e}") from e
    return message


def read_models_config(path) -> "model_server_config_pb2.ModelServerConfig":
    """Reads and parses a text-format ``models.config``.

    Args:
        path: the ``models.config`` file or the models directory holding it.

    Returns:
        A ``tensorflow.serving.ModelServerConfig`` proto.

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigError: the file is not a valid text ``ModelServerConfig``
            (the message names the file and the parse problem) or holds
            invalid entries (duplicate names, relative base paths, ...).
    """
    path = _config_path(path, MODELS_CONFIG)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text: {e}") from None
    config = _parse_text(path, text, model_server_config_pb2.ModelServerConfig())
    if config.WhichOneof("config") == "custom_model_config":
        raise ConfigError(
            f"Unsupported models config in {path}: custom_model_config is "
            "not supported, use model_config_list.")
    _validate_models_config(config, path)
    return config


def _validate_models_config(config, path: str) -> None:
    seen = set()
    for entry in config.model_config_list.config:
        if not valid_name(entry.name):
            raise ConfigError(
                f"Invalid model name {entry.name!r} in {path}: use letters, "
                "digits, '_', '-' and '.' only.")
        if entry.name in seen:
            raise ConfigError(f"Duplicate model {entry.name!r} in {path}.")
        seen.add(entry.name)
        if not entry.base_path:
            raise ConfigError(
                f"Model {entry.name!r} in {path} has no base_path.")
        if "://" not in entry.base_path and \
                not os.path.isabs(entry.base_path):
            # TF Serving resolves a relative path against its own working
            # directory: the same file would serve different folders.
            raise ConfigError(
                f"Model {entry.name!r} in {path} has a relative base_path: "
                "use an absolute path (or a URI such as gs://...). "
                f"Received: base_path={entry.base_path!r}")


def model_entries(path) -> dict:
    """Returns ``{name: ModelConfig}`` for the models in a ``models.config``.

    Args:
        path: the ``models.config`` file or the models directory.
    """
    return {c.name: c for c in read_models_config(path).model_config_list.config}


def update_models_config(models_dir, name: str, *, base_path=None,
                         version_policy=None, labels=None) -> str:
    """Adds or updates one model's entry in ``MODELS_DIR/models.config``.

    Other models' entries are kept as they are. The new file is parsed back
    with ``model_server_config_pb2`` before it atomically replaces the old
    one. A malformed existing file raises and is left untouched.

    Args:
        models_dir: the models directory (created if missing).
        name: model name (letters, digits, ``_ - .``); served at
            ``/v1/models/NAME``.
        base_path: directory holding the integer version subdirectories;
            stored as an absolute path (a URI such as ``gs://...`` as
            given). ``None`` keeps an existing entry's base path, and gives
            a new entry ``MODELS_DIR/NAME``.
        version_policy: ``None`` keeps the entry's current policy (TF
            Serving's default, latest 1, for a new entry); otherwise
            ``"latest"``, ``"all"``, ``latest(n)``, ``all_versions()``,
            ``specific(v, ...)`` or the equivalent dict.
        labels: ``None`` keeps current labels; otherwise a mapping
            ``{label: version}`` that replaces them (``{}`` clears). Note
            that TF Serving only accepts labels pointing at versions that
            are already loaded unless started with
            ``--allow_version_labels_for_unavailable_models``.

    Returns:
        The path of the written ``models.config``.

    Raises:
        ConfigError: invalid name, policy or labels, or a malformed existing
            ``models.config``.
    """
    models_dir = os.path.abspath(os.fspath(models_dir))
    if not valid_name(name):
        raise ConfigError(
            f"Invalid model name {name!r}: use letters, digits, '_', '-' "
            "and '.' only.")
    path = os.path.join(models_dir, MODELS_CONFIG)
    # the values are checked on a scratch entry before anything is created
    # (one-pass iterables are read once, into lists, first)
    if isinstance(labels, Mapping):
        labels = dict(labels)
    if isinstance(version_policy, Mapping) and isinstance(
            version_policy.get("specific"), Iterable):
        version_policy = {**version_policy,
                          "specific": list(version_policy["specific"])}
    scratch = model_server_config_pb2.ModelServerConfig()
    _update_entry(scratch, models_dir, name, base_path, version_policy, labels)
    with config_lock(models_dir):
        if os.path.exists(path):
            config = read_models_config(path)
        else:
            config = model_server_config_pb2.ModelServerConfig()
            config.model_config_list.SetInParent()
        _update_entry(config, models_dir, name, base_path, version_policy,
                      labels)
        _write_models_config(path, config)
    return path


def _update_entry(config, models_dir, name, base_path, version_policy,
                  labels) -> None:
    entry = None
    for existing in config.model_config_list.config:
        if existing.name == name:
            entry = existing
            break
    if entry is None:
        entry = config.model_config_list.config.add()
        entry.name = name
        if base_path is None:
            base_path = os.path.join(models_dir, name)
    if base_path is not None:  # None keeps the entry's own base path
        base_path = os.fspath(base_path)
        entry.base_path = (base_path if "://" in base_path
                           else os.path.abspath(base_path))
    entry.model_platform = "tensorflow"
    if version_policy is not None:
        _apply_version_policy(entry, version_policy)
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise ConfigError(
                f"Invalid labels {labels!r}: expected a mapping label -> "
                "version.")
        entry.ClearField("version_labels")
        for label, version in labels.items():
            if not valid_name(label):
                raise ConfigError(
                    f"Invalid version label {label!r} for model {name!r}.")
            if isinstance(version, bool) or not isinstance(version, int) or \
                    version < 0:
                raise ConfigError(
                    f"Invalid version {version!r} for label {label!r} of "
                    f"model {name!r}: expected an integer >= 0.")
            entry.version_labels[label] = version


def remove_model(models_dir, name: str) -> bool:
    """Removes a model's entry from ``models.config`` (files are kept).

    Args:
        models_dir: the models directory.
        name: the model to remove.

    Returns:
        True if an entry was removed, False if `name` had none.

    Raises:
        FileNotFoundError: the directory has no ``models.config`` (nothing
            is created).
        ConfigError: the file cannot be read as a model config.
    """
    path = os.path.join(os.fspath(models_dir), MODELS_CONFIG)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path}: no such file; {os.fspath(models_dir)} is not a models "
            "directory (`zoo export` creates one)")
    with config_lock(models_dir):
        config = read_models_config(path)
        entries = config.model_config_list.config
        for i, entry in enumerate(entries):
            if entry.name == name:
                del entries[i]
                _write_models_config(path, config)
                return True
    return False


_held = threading.local()  # the models directories this thread has locked


@contextlib.contextmanager
def config_lock(models_dir):
    """Holds an exclusive lock on a models directory's ``models.config`` for
    one read-change-write, so that two exports at once both keep their
    entry and labels (the write itself is atomic either way). Reentrant in
    one thread; another user's lock file is opened read-only, which local
    file systems lock as well. Where ``fcntl`` is missing (Windows) the
    change is not locked."""
    key = os.path.abspath(os.fspath(models_dir))
    held = getattr(_held, "dirs", None)
    if held is None:
        held = _held.dirs = set()
    if fcntl is None or key in held:
        yield
        return
    os.makedirs(key, exist_ok=True)
    lock = os.path.join(key, _LOCK_FILE)
    try:  # NFS grants an exclusive lock only on a file open for writing
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:  # writable by every user who may export here (past the umask)
            os.fchmod(fd, 0o666)
        except OSError:  # not ours to change
            pass
    except PermissionError:  # another user's lock file: reading is enough
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError as e:
            raise ConfigError(f"Cannot open {lock} to change models.config: "
                              f"{e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:  # e.g. NFS and a read-only descriptor
            raise ConfigError(f"Cannot lock {lock} to change models.config: "
                              f"{e}") from None
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        os.close(fd)  # closing releases the lock


def _write_models_config(path: str, config) -> None:
    text = text_format.MessageToString(config)
    # Validate exactly what will be written.
    check = _parse_text(path, text, model_server_config_pb2.ModelServerConfig())
    _validate_models_config(check, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_text(path, text)


# ---------------------------------------------------------------------------
# batching.config
# ---------------------------------------------------------------------------

def _build_batching_parameters_class():
    """Builds ``tensorflow.serving.BatchingParameters`` at runtime.

    tensorflow-serving-api does not ship ``session_bundle_config_pb2``, so
    the message is declared here with the field numbers and types of
    tensorflow_serving/servables/tensorflow/session_bundle_config.proto, in a
    private descriptor pool (no clash if the real module is ever imported).
    """
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    f = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/"
             "session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    msg = f.message_type.add(name="BatchingParameters")
    fdp = descriptor_pb2.FieldDescriptorProto
    for number, fname, tname in [
            (1, "max_batch_size", ".google.protobuf.Int64Value"),
            (2, "batch_timeout_micros", ".google.protobuf.Int64Value"),
            (3, "max_enqueued_batches", ".google.protobuf.Int64Value"),
            (4, "num_batch_threads", ".google.protobuf.Int64Value"),
            (5, "thread_pool_name", ".google.protobuf.StringValue")]:
        msg.field.add(name=fname, number=number, type=fdp.TYPE_MESSAGE,
                      type_name=tname, label=fdp.LABEL_OPTIONAL)
    msg.field.add(name="allowed_batch_sizes", number=6, type=fdp.TYPE_INT64,
                  label=fdp.LABEL_REPEATED)
    msg.field.add(name="pad_variable_length_inputs", number=7,
                  type=fdp.TYPE_BOOL, label=fdp.LABEL_OPTIONAL)
    pool.Add(f)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParameters = _build_batching_parameters_class()


def write_batching_config(models_dir, *, max_batch_size: int = 32,
                          batch_timeout_micros: int = 5000,
                          max_enqueued_batches: int = 100,
                          num_batch_threads: int = 1,
                          pad_variable_length_inputs: bool = True,
                          allowed_batch_sizes=None,
                          thread_pool_name: str | None = None) -> str:
    """Writes ``MODELS_DIR/batching.config`` (text ``BatchingParameters``).

    Padding is on by default: RNN Zoo models take variable-length text, and
    TF Serving can only merge requests of different lengths into one batch
    when ``pad_variable_length_inputs`` is true.

    Args:
        models_dir: the models directory.
        max_batch_size: largest batch the server forms (>= 1).
        batch_timeout_micros: how long a partial batch waits (>= 0).
        max_enqueued_batches: queue length in batches (>= 1).
        num_batch_threads: threads processing batches (>= 1). One is the
            default: on a 2-core CPU two concurrent batches compete for the
            cores and halved throughput (`bench/serving.py`); raise it with
            the number of cores.
        pad_variable_length_inputs: pad inputs to a common length per batch.
        allowed_batch_sizes: optional increasing batch sizes whose last entry
            equals ``max_batch_size`` (TF Serving's requirement).
        thread_pool_name: optional name of the batch thread pool.

    Returns:
        The path of the written ``batching.config``.

    Raises:
        ConfigError: a parameter is out of range.
    """
    for pname, value, minimum in [
            ("max_batch_size", max_batch_size, 1),
            ("batch_timeout_micros", batch_timeout_micros, 0),
            ("max_enqueued_batches", max_enqueued_batches, 1),
            ("num_batch_threads", num_batch_threads, 1)]:
        if isinstance(value, bool) or not isinstance(value, int) or \
                value < minimum:
            raise ConfigError(
                f"Invalid batching parameter {pname}={value!r}: expected an "
                f"integer >= {minimum}.")
    params = BatchingParameters()
    params.max_batch_size.value = max_batch_size
    params.batch_timeout_micros.value = batch_timeout_micros
    params.max_enqueued_batches.value = max_enqueued_batches
    params.num_batch_threads.value = num_batch_threads
    if thread_pool_name:
        params.thread_pool_name.value = thread_pool_name
    params.pad_variable_length_inputs = bool(pad_variable_length_inputs)
    if allowed_batch_sizes:
        sizes = list(allowed_batch_sizes)
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1
               for s in sizes) or sizes != sorted(set(sizes)):
            raise ConfigError(
                f"Invalid allowed_batch_sizes {sizes!r}: expected strictly "
                "increasing positive integers.")
        if sizes[-1] != max_batch_size:
            raise ConfigError(
                f"Invalid allowed_batch_sizes {sizes!r}: the last entry must "
                f"equal max_batch_size={max_batch_size}.")
        params.allowed_batch_sizes.extend(sizes)

    path = os.path.join(os.path.abspath(os.fspath(models_dir)),
                        BATCHING_CONFIG)
    text = text_format.MessageToString(params)
    _parse_text(path, text, BatchingParameters())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_text(path, text)
    return path


def read_batching_config(path):
    """Reads a text ``batching.config``.

    Args:
        path: the ``batching.config`` file or the models directory.

    Returns:
        A ``tensorflow.serving.BatchingParameters`` message.

    Raises:
        ConfigError: the file does not parse (message names file and problem).
    """
    path = _config_path(path, BATCHING_CONFIG)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text: {e}") from None
    return _parse_text(path, text, BatchingParameters())


# ---------------------------------------------------------------------------
# Commands.
# ---------------------------------------------------------------------------


def serving_command(models_dir, port: int = DEFAULT_REST_PORT,
                    grpc_port: int = DEFAULT_GRPC_PORT, *,
                    poll_wait_seconds: int = DEFAULT_POLL_WAIT_SECONDS,
                    batching: bool | None = None,
                    monitoring_config_file=None,
                    binary: str = "tensorflow_model_server") -> list:
    """The ``tensorflow_model_server`` argv serving ``models_dir``.

    Args:
        models_dir: the models directory (must hold ``models.config``).
        port: REST API port (``--rest_api_port``).
        grpc_port: gRPC port (``--port``).
        poll_wait_seconds: ``--model_config_file_poll_wait_seconds``, how
            often TF Serving re-reads ``models.config`` (0 disables).
        batching: enable server-side batching with ``batching.config``;
            ``None`` enables it when ``batching.config`` exists.
        monitoring_config_file: ``--monitoring_config_file`` (Prometheus
            metrics; see `serving.server.metrics`), or None.
        binary: the server executable.

    Returns:
        The argv list, e.g. for ``subprocess.Popen``.
    """
    models_dir = os.path.abspath(os.fspath(models_dir))
    args = _server_args(
        [binary], models_dir, models_dir, port, grpc_port, poll_wait_seconds,
        batching, MODELS_CONFIG)
    if monitoring_config_file is not None:
        args.append("--monitoring_config_file="
                    + os.path.abspath(os.fspath(monitoring_config_file)))
    return args


def _server_args(prefix, host_dir, server_dir, port, grpc_port,
                 poll_wait_seconds, batching, config_name):
    args = list(prefix) + [
        f"--port={int(grpc_port)}",
        f"--rest_api_port={int(port)}",
        f"--model_config_file={server_dir}/{config_name}",
        f"--model_config_file_poll_wait_seconds={int(poll_wait_seconds)}",
    ]
    if batching is None:
        batching = os.path.exists(os.path.join(host_dir, BATCHING_CONFIG))
    if batching:
        args += ["--enable_batching=true",
                 f"--batching_parameters_file={server_dir}/{BATCHING_CONFIG}"]
    return args


def docker_command(models_dir, port: int = DEFAULT_REST_PORT,
                   grpc_port: int = DEFAULT_GRPC_PORT, *,
                   image: str = "tensorflow/serving",
                   container_dir: str = "/models",
                   poll_wait_seconds: int = DEFAULT_POLL_WAIT_SECONDS,
                   batching: bool | None = None) -> list:
    """The ``docker run`` argv serving ``models_dir`` with TF Serving's image.

    ``models.config`` stores host base paths, which do not exist inside the
    container. This function therefore writes ``models.docker.config`` next
    to it (atomically) with every base path under ``models_dir`` mapped to
    ``container_dir``, and points the container at that file. Re-run it
    after ``update_models_config`` so the container sees the change.

    Args:
        models_dir: the models directory, mounted at ``container_dir``.
        port: host port published for the REST API (container 8501).
        grpc_port: host port published for gRPC (container 8500).
        image: the TF Serving image.
        container_dir: mount point inside the container.
        poll_wait_seconds: ``--model_config_file_poll_wait_seconds``.
        batching: as in :func:`serving_command`.

    Returns:
        The argv list starting with ``docker``.

    Raises:
        ConfigError: a model's base path is outside ``models_dir`` (it would
            not be visible in the container); a URI base path
            (``gs://...``) is kept as it is.
    """
    models_dir = os.path.abspath(os.fspath(models_dir))
    container_dir = container_dir.rstrip("/") or "/"
    config = read_models_config(os.path.join(models_dir, MODELS_CONFIG))
    for entry in config.model_config_list.config:
        if "://" in entry.base_path:  # a URI (gs://...) reads the same there
            continue
        rel = os.path.relpath(entry.base_path, models_dir)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise ConfigError(
                f"Model {entry.name!r} has base_path {entry.base_path} "
                f"outside {models_dir}; it would not be visible in the "
                "container.")
        entry.base_path = "/".join(
            [container_dir.rstrip("/")] + ([] if rel == "." else
                                            rel.split(os.sep)))
    _write_models_config(os.path.join(models_dir, DOCKER_MODELS_CONFIG),
                         config)
    prefix = ["docker", "run", "--rm",
              "-p", f"{int(port)}:{DEFAULT_REST_PORT}",
              "-p", f"{int(grpc_port)}:{DEFAULT_GRPC_PORT}",
              "-v", f"{models_dir}:{container_dir}",
              image]
    args = _server_args(prefix, models_dir, container_dir, DEFAULT_REST_PORT,
                        DEFAULT_GRPC_PORT, poll_wait_seconds, batching,
                        DOCKER_MODELS_CONFIG)
    # The image's entrypoint already passes --port/--rest_api_port.
    return [a for a in args
            if not a.startswith(("--port=", "--rest_api_port="))]
