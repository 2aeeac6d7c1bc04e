"""The models, versions and loaded SavedModels of a models directory.

`ModelRegistry` reads `models.config` (`serving.config`) and finds the
version directories through `serving.models_dir`, like TF Serving: it
re-reads them at most every `poll_interval` seconds, serves what the
version policy and labels ask for, and keeps the previous version serving
when a new one fails to load.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import threading
import time

from serving import config as serving_config
from serving import models_dir
from serving.server.errors import ServingStatus, invalid

logger = logging.getLogger(__name__)


def _clock() -> float:
    """Seconds for load retries (tests move it by hand)."""
    return time.monotonic()


class Signature:
    """One callable signature of a loaded SavedModel."""

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn
        self.inputs = dict(fn.structured_input_signature[1])
        self.outputs = dict(fn.structured_outputs)


class Servable:
    """A loaded SavedModel version."""

    def __init__(self, name, version, path, key):
        import tensorflow as tf

        self.name = name
        self.version = version
        self.path = path
        self.key = key
        self.obj = tf.saved_model.load(path)
        self.signatures = {
            sig_name: Signature(sig_name, fn)
            for sig_name, fn in self.obj.signatures.items()}
        self._metadata = None
        # read now, with the graph it describes: a version directory that is
        # replaced or removed later must not change what metadata says
        self._sig_map = self._read_signature_def_map()

    def replay_warmup(self) -> int:
        """Runs the version's warmup requests, as TF Serving does at load.

        Reads ``assets.extra/tf_serving_warmup_requests`` (TFRecord of
        ``PredictionLog``; see `serving.warmup`) and runs each request once.

        Returns:
            The number of requests replayed (0 without a warmup file).

        Raises:
            ValueError: a malformed file or a request the model rejects
                (the version then fails to load, like in TF Serving).
        """
        from serving import warmup

        path = warmup.warmup_path(self.path)
        if not os.path.exists(path):
            return 0
        from serving.server.service import call_signature, check_inputs

        requests = warmup.read_warmup_file(path)
        for i, (sig_name, arrays) in enumerate(requests):
            signature = self.signatures.get(sig_name or "serving_default")
            if signature is None:
                raise ValueError(f"{path}: warmup request {i} names signature "
                                 f"{sig_name!r}, which the model lacks")
            try:
                call_signature(signature, check_inputs(signature, arrays))
            except ServingStatus as e:
                raise ValueError(f"{path}: warmup request {i} failed: "
                                 f"{e.message}") from None
        return len(requests)

    def signature_def_map(self):
        """The ``serve`` MetaGraph's signatures, a ``SignatureDefMap``, as
        read at load."""
        return self._sig_map

    def _read_signature_def_map(self):
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        saved_model = saved_model_pb2.SavedModel()
        binary = os.path.join(self.path, "saved_model.pb")
        if os.path.exists(binary):
            with open(binary, "rb") as f:
                saved_model.ParseFromString(f.read())
        else:  # a text SavedModel (saved_model.pbtxt), which the scan accepts
            from google.protobuf import text_format

            with open(os.path.join(self.path, "saved_model.pbtxt"),
                      encoding="utf-8") as f:
                text_format.Parse(f.read(), saved_model)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for meta_graph in saved_model.meta_graphs:
            if "serve" in meta_graph.meta_info_def.tags:
                for k, v in meta_graph.signature_def.items():
                    sig_map.signature_def[k].CopyFrom(v)
                break
        return sig_map

    def signature_def_json(self):
        """The SignatureDefMap as TF Serving's metadata API prints it."""
        if self._metadata is None:
            from google.protobuf import json_format

            self._metadata = json_format.MessageToDict(
                self.signature_def_map(),
                always_print_fields_with_no_presence=True,
                preserving_proto_field_name=True)
        return self._metadata


class ModelRegistry:
    """Models, versions and loaded servables of a models directory.

    Args:
        models_dir: the directory holding ``models.config``.
        poll_interval: minimum seconds between rescans (0: every request).
        metrics: a `metrics.ServerMetrics` counting loads and warmups.
        warmup: replay each version's warmup requests when it loads.
        max_load_retries: how many times a version that failed to load is
            tried again (TF Serving's ``--max_num_load_retries``, 5): a
            version directory still being copied in may fail once and
            load later without its key changing.
        load_retry_interval: seconds between tries (TF Serving's
            ``--load_retry_interval_micros``, one minute). A retry is made
            by the first request after the interval (with 0, by each
            request that needs the version, until the retries are spent).
    """

    def __init__(self, models_dir, poll_interval: float = 1.0, *,
                 metrics=None, warmup: bool = True,
                 max_load_retries: int = 5,
                 load_retry_interval: float = 60.0):
        if (isinstance(max_load_retries, bool)
                or not isinstance(max_load_retries, numbers.Integral)
                or max_load_retries < 0):
            raise ValueError("`max_load_retries` must be an int >= 0. "
                             f"Received: max_load_retries={max_load_retries!r}")
        if (isinstance(load_retry_interval, bool)
                or not isinstance(load_retry_interval, numbers.Real)
                or not 0 <= load_retry_interval < math.inf):
            raise ValueError(
                "`load_retry_interval` must be a finite number of seconds "
                f">= 0. Received: load_retry_interval={load_retry_interval!r}")
        self.max_load_retries = int(max_load_retries)
        self.load_retry_interval = float(load_retry_interval)
        self.metrics = metrics
        self.warmup = bool(warmup)
        self.models_dir = os.path.abspath(os.fspath(models_dir))
        self.config_path = os.path.join(self.models_dir,
                                        serving_config.MODELS_CONFIG)
        self.poll_interval = float(poll_interval)
        self.config_error = None
        self._lock = threading.RLock()
        self._last_check = None
        self._config_sig = ()
        self._models = {}
        self._versions = {}
        self._bases = {}        # name -> the base path last scanned
        self._scan_errors = {}  # name -> what its last scan could not read
        self._loaded = {}   # name -> {version: Servable}
        self._failed = {}   # dir key -> (error message, when, failures)
        self._model_locks = {}  # name -> lock held while it loads

    # -- scanning ----------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Re-reads models.config and rescans versions if due."""
        now = time.monotonic()
        with self._lock:
            if (not force and self._last_check is not None and
                    now - self._last_check < self.poll_interval):
                return
            self._last_check = now
            try:
                st = os.stat(self.config_path)
                sig = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                sig = None
            except OSError as e:  # --models-dir names a file, no permission:
                sig = ("error", str(e))  # reading it below says so
            if sig != self._config_sig:
                self._config_sig = sig
                if sig is None:
                    self._models, self.config_error = {}, None
                else:
                    try:
                        self._models = serving_config.model_entries(
                            self.config_path)
                        self.config_error = None
                    except (serving_config.ConfigError, OSError) as e:
                        # Keep serving the last good config, like TF Serving.
                        self.config_error = str(e)
                        logger.error("Keeping the previous model config: %s",
                                     e)
            self._versions = {name: self._scan(name, mc.base_path)
                              for name, mc in self._models.items()}
            for name in list(self._loaded):
                if name not in self._models:
                    del self._loaded[name]
            for kept in (self._bases, self._scan_errors):
                for name in list(kept):
                    if name not in self._models:
                        del kept[name]
            # Forget the failures of directories that are gone or changed
            # (a changed one has a new key and new tries) and the load locks
            # of models that left the config, unless a load holds one.
            on_disk = {key for versions in self._versions.values()
                       for _, key in versions.values()}
            self._failed = {key: failure for key, failure
                            in self._failed.items() if key in on_disk}
            self._model_locks = {
                name: lock for name, lock in self._model_locks.items()
                if name in self._models or lock.locked()}

    def _scan(self, name, base_path):
        """The versions on disk under `base_path`. What cannot be read (the
        directory, or one version's: no permission, an I/O error) keeps the
        previous scan's entries, as TF Serving keeps its servables when a
        poll fails: loaded versions stay and load failures keep their retry
        counts. Only a scan of the same `base_path` is kept; an error is
        logged when it starts or changes, and its end once."""
        previous = (self._versions.get(name, {})
                    if self._bases.get(name) == base_path else {})
        self._bases[name] = base_path
        errors = {}
        try:
            found = models_dir.scan_versions(base_path, errors=errors)
        except OSError as e:
            found, problem = dict(previous), f"cannot list {base_path}: {e}"
        else:
            for v in errors:
                if v in previous:
                    found[v] = previous[v]
            problem = "; ".join(
                f"cannot read version {v}: {e}"
                for v, e in sorted(errors.items())) or None
        if problem != self._scan_errors.get(name):
            if problem is not None:
                logger.error("Keeping the previous scan of %s: %s", name,
                             problem)
            else:
                logger.info("%s can be read again", base_path)
        if problem is None:
            self._scan_errors.pop(name, None)
        else:
            self._scan_errors[name] = problem
        return found

    def model_names(self):
        with self._lock:
            return sorted(self._models)

    def is_configured(self, name) -> bool:
        """Whether `models.config` lists `name`. Read without the lock, as
        `refresh` replaces the mapping whole: counting a request never
        waits for a rescan."""
        return name in self._models

    # -- resolution --------------------------------------------------------

    @staticmethod
    def _apply_policy(model_config, versions):
        versions = sorted(versions)
        policy = model_config.model_version_policy
        kind = policy.WhichOneof("policy_choice")
        if kind == "all":
            return versions
        if kind == "specific":
            wanted = set(policy.specific.versions)
            return [v for v in versions if v in wanted]
        n = policy.latest.num_versions if kind == "latest" else 1
        return versions[-max(n, 1):] if versions else []

    def _served(self, name):
        """Loads and returns ``({version: servable}, {version: error})``, or
        None when `name` left the config meanwhile.

        Called under the model's own lock (`_model_lock`), not the
        registry's: a version loads without the registry's lock, so
        requests for other models go on during a slow load."""
        attempted = set()  # (version, key): at most one load each per call
        while True:
            with self._lock:
                if name not in self._models:
                    return None
                model_config = self._models[name]
                disk = self._versions.get(name, {})
                loaded = self._loaded.setdefault(name, {})
                usable = [v for v, (_, key) in disk.items()
                          if self._may_load(key) and not (
                              (v, key) in attempted and key in self._failed)]
                wanted = self._apply_policy(model_config, usable)
                todo = next((v for v in wanted
                             if (loaded.get(v) is None
                                 or loaded[v].key != disk[v][1])
                             and (v, disk[v][1]) not in attempted), None)
                if todo is None:
                    for v in list(loaded):
                        if v not in wanted:
                            logger.info("Unloading %s version %d", name, v)
                            del loaded[v]
                    failed = {v: self._failed[key][0]
                              for v, (_, key) in disk.items()
                              if key in self._failed}
                    return {v: loaded[v] for v in wanted if v in loaded}, \
                        failed
                path, key = disk[todo]
                attempted.add((todo, key))
            try:
                logger.info("Loading %s version %d from %s", name, todo, path)
                servable = self._load(name, todo, path, key)
            except Exception as e:  # noqa: BLE001 - report, keep serving
                logger.error("Failed to load %s version %d: %s",
                             name, todo, e)
                with self._lock:
                    failures = self._failed.get(key, (None, None, 0))[2]
                    self._failed[key] = (f"{type(e).__name__}: {e}",
                                         _clock(), failures + 1)
                    self._loaded.get(name, {}).pop(todo, None)
                continue  # the policy picks among the others
            with self._lock:
                self._failed.pop(key, None)
                if name in self._models:
                    self._loaded.setdefault(name, {})[todo] = servable

    def _model_lock(self, name):
        """The lock that one model's loads hold (one load of a model at a
        time; other models are not held up)."""
        with self._lock:
            return self._model_locks.setdefault(name, threading.Lock())

    def _may_load(self, key) -> bool:
        """Whether a version directory may be (re)loaded now: it never
        failed, or it has retries left and the interval has passed."""
        if key not in self._failed:
            return True
        _, when, failures = self._failed[key]
        return (failures <= self.max_load_retries and
                _clock() - when >= self.load_retry_interval)

    def _load(self, name, version, path, key):
        try:
            servable = Servable(name, version, path, key)
        except Exception:
            if self.metrics is not None:
                self.metrics.observe_load(path=path, ok=False)
            raise
        if self.metrics is not None:
            self.metrics.observe_load(path=path, ok=True)
        if self.warmup:
            start = time.perf_counter()
            n = servable.replay_warmup()
            if n:
                seconds = time.perf_counter() - start
                logger.info("Warmed up %s version %d with %d requests in "
                            "%.2f s", name, version, n, seconds)
                if self.metrics is not None:
                    self.metrics.observe_warmup(path=path, seconds=seconds)
        return servable

    def _label_version(self, name, label):
        version = self._models[name].version_labels.get(label)
        if version is None:
            raise invalid(f"Unrecognized servable version label: {label}")
        return version

    def _config_note(self) -> str:
        """Why a model may be missing: the config file is absent, or the
        last change to it could not be read (the previous one is served)."""
        if self._config_sig is None:
            return f" ({serving_config.MODELS_CONFIG} does not exist in " \
                   f"{self.models_dir})"
        if self.config_error:
            served = ("the previous configuration is served"
                      if self._models else "no model is served")
            return f" ({self.config_error}; {served})"
        return ""

    def _lookup(self, name, version, label, missing):
        """`(version, served, failed)` for a request: the label resolved,
        the model's versions loaded (`_served`); NOT_FOUND with `missing`
        and the config's note when `models.config` does not list `name`
        (or dropped it meanwhile)."""
        self.refresh()
        with self._lock:
            if name not in self._models:
                raise ServingStatus("NOT_FOUND",
                                    missing + self._config_note())
            if label is not None:
                version = self._label_version(name, label)
        while True:
            lock = self._model_lock(name)
            with lock:
                # `refresh` may have dropped this lock (the model left the
                # config) before it was taken: take the current one.
                if self._model_locks.get(name) is not lock:
                    continue
                result = self._served(name)
            break
        if result is None:
            with self._lock:
                raise ServingStatus("NOT_FOUND",
                                    missing + self._config_note())
        return (version, *result)

    def resolve(self, name, version=None, label=None) -> Servable:
        """Finds the servable for a request.

        Args:
            name: model name.
            version: a specific version, or None.
            label: a version label, or None.

        Raises:
            ServingStatus: NOT_FOUND for an unknown model or version,
                INVALID_ARGUMENT for an unknown label.
        """
        request = spec_str(name, version, label)
        version, served, failed = self._lookup(
            name, version, label, f"Servable not found for request: {request}")
        if version is None:
            if served:
                return served[max(served)]
        elif version in served:
            return served[version]
        message = f"Servable not found for request: {request}"
        if version in failed:
            message += f" (version failed to load: {failed[version]})"
        raise ServingStatus("NOT_FOUND", message)

    def status(self, name, version=None, label=None) -> dict:
        """The GetModelStatusResponse JSON for a model (all/one version)."""
        version, served, failed = self._lookup(
            name, version, label,
            f"Could not find any versions of model {name}")
        entries = {v: ("AVAILABLE", "OK", "") for v in served}
        for v, message in failed.items():
            entries.setdefault(v, ("END", "UNKNOWN", message))
        if version is not None:
            if version not in entries:
                raise ServingStatus(
                    "NOT_FOUND",
                    f"Could not find version {version} of model {name}")
            entries = {version: entries[version]}
        if not entries:
            raise ServingStatus(
                "NOT_FOUND", f"Could not find any versions of model {name}")
        return {"model_version_status": [
            {"version": str(v), "state": state,
             "status": {"error_code": code, "error_message": message}}
            for v, (state, code, message) in sorted(entries.items())]}


def spec_str(name, version, label):
    if label is not None:
        return f"Label({name}, {label})"
    if version is not None:
        return f"Specific({name}, {version})"
    return f"Latest({name})"
