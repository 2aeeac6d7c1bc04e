"""SavedModel warmup requests: `assets.extra/tf_serving_warmup_requests`.

TensorFlow Serving replays this file when it loads a version, before the
version serves, so that the first user request does not pay for tracing
and graph optimisation ("SavedModel warmup"). The format is TF Serving's:
a TFRecord file whose records are serialised
`tensorflow_serving.apis.prediction_log_pb2.PredictionLog` messages. The zoo
writes `predict_log` records only; each holds a `PredictRequest` whose
`model_spec` names the model and the signature and whose `inputs` are
`tf.make_tensor_proto` tensors. TF Serving reads at most
`MAX_RECORDS` (1000) records, and a request that fails makes the version
fail to load, so every request written here is one the exported graph
accepts.

`zoo export` writes the file into each version directory before the
directory is published (`serving.models_dir.publish`), so a version
appears with its warmup file or not at all. The local server replays it
with `read_warmup_file`.

```python
requests = build_requests("sentiment_classifier", ["a good film"])
write_warmup_file(warmup_path(version_dir), requests, model_name="imdb")
for signature_name, inputs in read_warmup_file(warmup_path(version_dir)):
    saved_model.signatures[signature_name](**inputs)
```
"""

from __future__ import annotations

import os
import tempfile
from typing import NamedTuple

from serving.models_dir import ASSETS_EXTRA
from training.atomic import atomic_write_bytes

WARMUP_FILE = "tf_serving_warmup_requests"
# TF Serving refuses a warmup file with more records than this.
MAX_RECORDS = 1000
# At most this many texts go into one warmup file (each becomes a request
# of its own, plus one batch of them all).
MAX_TEXTS = 100
DEFAULT_SIGNATURE = "serving_default"
# Used when no texts of the model's own data are at hand (runs trained
# before the run directory kept `warmup_texts.json`).
GENERIC_TEXTS = ("the film was good", "a bad movie , not worth it .")
# `generate` warmup: a few greedy tokens trace the sampling while_loop.
GENERATE_MAX_LENGTH = 4

__all__ = [
    "DEFAULT_SIGNATURE", "GENERATE_MAX_LENGTH", "GENERIC_TEXTS", "MAX_RECORDS",
    "MAX_TEXTS", "WARMUP_FILE", "WarmupRequest", "build_requests",
    "check_texts", "read_texts_file", "read_warmup_file", "warmup_path",
    "write_warmup_file",
]


class WarmupRequest(NamedTuple):
    """One warmup request: a signature and its inputs.

    Unpacks as `(signature_name, inputs)`.

    Attributes:
        signature_name: the signature to run (`"serving_default"`, ...).
        inputs: `{input name: numpy array}`; strings are object arrays of
            `bytes` when read back from a file.
    """

    signature_name: str
    inputs: dict


def warmup_path(version_dir) -> str:
    """`VERSION_DIR/assets.extra/tf_serving_warmup_requests`."""
    return os.path.join(os.fspath(version_dir), ASSETS_EXTRA, WARMUP_FILE)


def check_texts(texts, where="warmup texts") -> list:
    """Returns `texts` as a list of str, checked for a warmup file.

    Raises:
        ValueError: not a list of strings, no text, or more than
            `MAX_TEXTS`.
    """
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise ValueError(f"{where}: expected a list of strings. Received: "
                         f"{texts!r}")
    texts = list(texts)
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{where}: every text must be a str. Received: "
                         f"{bad[0]!r}")
    if not texts:
        raise ValueError(f"{where}: no text. Received: {texts!r}")
    if len(texts) > MAX_TEXTS:
        raise ValueError(f"{where}: at most {MAX_TEXTS} texts. Received: "
                         f"{len(texts)} texts")
    return texts


def read_texts_file(path) -> list:
    """Reads warmup texts from a UTF-8 file, one text per line.

    Blank lines (whitespace only) are skipped; a line's text is kept as
    written, without its line ending.

    Raises:
        ValueError: the file cannot be read, is not UTF-8, has no
            non-blank line or more than `MAX_TEXTS`; the message names the
            file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the warmup texts "
                         f"({e.strerror or e}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 (byte "
                         f"{raw[e.start]:#04x}). Received: a file with "
                         "bytes that are not UTF-8") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise ValueError(f"{path}: no warmup text (expected one text per "
                         f"line). Received: {len(raw)} bytes, "
                         f"{len(lines) - (lines[-1:] == [''])} blank lines")
    return check_texts(texts, where=path)


def build_requests(family, texts, *, max_generate_length=None) -> list:
    """The warmup requests of an exported zoo model.

    Every family gets one `serving_default` request per text (batch 1) and
    one with all the texts (a batch), input `text`. A language model also
    gets one `generate` request: the first texts as prompts,
    `max_length` `GENERATE_MAX_LENGTH` (at most `max_generate_length`) and
    temperature 0 (greedy), which traces the sampling loop, and one
    `sample` request (top-k 8, top-p 0.9, seed 0) on the same prompts.

    Args:
        family: `"sentiment_classifier"` or `"language_model"`.
        texts: a list of str (see `check_texts`).
        max_generate_length: language models: the export's cap on
            `max_length`.

    Returns:
        A list of `WarmupRequest`.

    Raises:
        ValueError: an unknown family or bad texts.

    Example:

    >>> [r.signature_name for r in build_requests(
    ...     "language_model", ["a b", "c"], max_generate_length=16)]
    ['serving_default', 'serving_default', 'serving_default', 'generate', 'sample']
    """
    import numpy as np

    if family not in ("sentiment_classifier", "language_model"):
        raise ValueError("family must be 'sentiment_classifier' or "
                         f"'language_model'. Received: family={family!r}")
    texts = check_texts(texts)

    def strings(values):
        return np.array([v.encode("utf-8") for v in values], dtype=object)

    requests = [WarmupRequest(DEFAULT_SIGNATURE, {"text": strings([t])})
                for t in texts]
    if len(texts) > 1:
        requests.append(WarmupRequest(DEFAULT_SIGNATURE,
                                      {"text": strings(texts)}))
    if family == "language_model":
        length = GENERATE_MAX_LENGTH
        if max_generate_length is not None:
            length = max(0, min(length, int(max_generate_length)))
        requests.append(WarmupRequest("generate", {
            "prompt": strings(texts[:2]),
            "max_length": np.array(length, dtype=np.int32),
            "temperature": np.array(0.0, dtype=np.float32),
        }))
        requests.append(WarmupRequest("sample", {
            "prompt": strings(texts[:2]),
            "max_length": np.array(length, dtype=np.int32),
            "temperature": np.array(1.0, dtype=np.float32),
            "top_k": np.array(8, dtype=np.int32),
            "top_p": np.array(0.9, dtype=np.float32),
            "repetition_penalty": np.array(1.0, dtype=np.float32),
            "seed": np.array(0, dtype=np.int64),
            "ban_unk": np.array(False),
        }))
    return requests


def _prediction_log(request, model_name):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    signature_name, inputs = request
    predict = predict_pb2.PredictRequest()
    if model_name:
        predict.model_spec.name = model_name
    predict.model_spec.signature_name = signature_name or DEFAULT_SIGNATURE
    for key, value in inputs.items():
        predict.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=predict))


def write_warmup_file(path, requests, *, model_name=None) -> int:
    """Writes `requests` as TF Serving's warmup file, atomically.

    Args:
        path: the file, normally `warmup_path(version_dir)` (folders are
            created).
        requests: `WarmupRequest`s or `(signature_name, inputs)` pairs,
            `inputs` a dict of what `tf.make_tensor_proto` takes.
        model_name: recorded in each request's `model_spec.name`.

    Returns:
        The number of records written.

    Raises:
        ValueError: no request, more than `MAX_RECORDS`, or inputs that
            are not a non-empty dict.
    """
    import tensorflow as tf

    requests = list(requests)
    if not requests:
        raise ValueError("No warmup request to write. Received: []")
    if len(requests) > MAX_RECORDS:
        raise ValueError(f"TF Serving reads at most {MAX_RECORDS} warmup "
                         f"records. Received: {len(requests)} requests")
    logs = []
    for i, request in enumerate(requests):
        signature_name, inputs = request
        if not isinstance(inputs, dict) or not inputs:
            raise ValueError(f"Warmup request {i} needs a dict of inputs. "
                             f"Received: {inputs!r}")
        logs.append(_prediction_log(request, model_name))
    # TFRecordWriter writes to a path; the records are assembled in a
    # private folder and the bytes written where they belong in one rename.
    with tempfile.TemporaryDirectory() as tmp:
        records = os.path.join(tmp, WARMUP_FILE)
        with tf.io.TFRecordWriter(records) as writer:
            for log in logs:
                writer.write(log.SerializeToString())
        with open(records, "rb") as f:
            data = f.read()
    atomic_write_bytes(os.fspath(path), data)
    return len(logs)


def read_warmup_file(path) -> list:
    """Reads a warmup file: the requests in the order TF Serving runs them.

    Args:
        path: a `tf_serving_warmup_requests` file (TFRecord of
            `PredictionLog`).

    Returns:
        A list of `WarmupRequest` (`(signature_name, {input: numpy
        array})`); a request without a signature name reads as
        `"serving_default"`, as TF Serving takes it. String inputs are
        object arrays of `bytes`.

    Raises:
        ValueError: the file is missing, not a TFRecord of `PredictionLog`,
            holds more than `MAX_RECORDS` records, or a record that is not
            a `predict_log` (the zoo writes no other kind); the message
            names the file and the record.
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such warmup file")
    out = []
    try:
        for i, record in enumerate(tf.data.TFRecordDataset(path)):
            if i >= MAX_RECORDS:
                raise ValueError(f"{path}: more than {MAX_RECORDS} warmup "
                                 "records (TF Serving's limit)")
            log = prediction_log_pb2.PredictionLog()
            try:
                log.ParseFromString(record.numpy())
            except DecodeError as e:
                raise ValueError(f"{path}: record {i} is not a "
                                 f"PredictionLog ({e})") from None
            kind = log.WhichOneof("log_type")
            if kind != "predict_log":
                raise ValueError(f"{path}: record {i} is a {kind or 'empty'} "
                                 "record; only predict_log is supported")
            request = log.predict_log.request
            inputs = {key: tf.make_ndarray(proto)
                      for key, proto in request.inputs.items()}
            out.append(WarmupRequest(
                request.model_spec.signature_name or DEFAULT_SIGNATURE,
                inputs))
    except tf.errors.OpError as e:
        raise ValueError(f"{path}: not a TFRecord file ({e.message})") from None
    return out
