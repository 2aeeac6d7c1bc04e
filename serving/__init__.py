"""Serving RNN Zoo models with TensorFlow Serving: RUN_DIR -> MODELS_DIR -> server.

Submodules (imported lazily, so ``import serving`` stays cheap):

* :mod:`serving.export` - ``zoo export``: a run directory (read through
  ``training.run_dir``) into a models directory.
* :mod:`serving.signatures` - the exported graph: classify, score, generate.
* :mod:`serving.models_dir` - MODELS_DIR: names, versions, the model card,
  atomic publishing, the version scan.
* :mod:`serving.config` - ``models.config`` / ``batching.config`` formats,
  ``tensorflow_model_server`` and ``docker run`` command lines.
* :mod:`serving.server` - :func:`~serving.server.serve` and
  :class:`~serving.server.LocalModelServer`, TF Serving's REST API in-process
  when ``tensorflow_model_server`` is not installed.
* :mod:`serving.client` - :class:`~serving.client.ServingClient`, a
  standard-library REST client for either server.
"""

import importlib

__all__ = ["config", "server", "client", "serve"]


def serve(models_dir, port=8501, host="127.0.0.1", **kwargs):
    """Serves ``models_dir``; see :func:`serving.server.serve`."""
    from serving.server import serve as _serve

    return _serve(models_dir, port=port, host=host, **kwargs)


def __getattr__(name):
    if name in ("config", "server", "client"):
        return importlib.import_module(f"serving.{name}")
    raise AttributeError(f"module 'serving' has no attribute {name!r}")
