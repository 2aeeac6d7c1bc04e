"""Runs `zoo ARGS...` as on a machine without TensorFlow (the lent GPU
machines), for tests/test_backends.py.

    python -S tests/_without_tensorflow.py SITE_PACKAGES_VIEW PROJECT ARGS...

`python -S` skips site-packages; SITE_PACKAGES_VIEW is a folder of links to
every entry of site-packages except TensorFlow's, so `import tensorflow`
fails as it would where it is not installed. A finder records every attempt
to import it; the attempts made from the project's own code are printed as
JSON on the last line, with the exit status and whether TensorFlow got
loaded.
"""

import importlib.abc
import json
import os
import sys

view, project = sys.argv[1], os.path.abspath(sys.argv[2])
sys.path[:0] = [project, view]
BLOCKED = ("tensorflow", "tensorflow_datasets", "tensorflow_serving",
           "tf_keras")
attempts = []


class Recorder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            frame = sys._getframe(1)
            while frame is not None and (
                    "importlib" in frame.f_code.co_filename
                    or frame.f_code.co_filename.startswith("<frozen")):
                frame = frame.f_back
            if frame is not None:
                attempts.append([name, frame.f_code.co_filename,
                                 frame.f_lineno])
        return None


sys.meta_path.insert(0, Recorder())

import zoo_cli  # noqa: E402

try:
    rc = zoo_cli.main(sys.argv[3:])
except SystemExit as e:
    rc = e.code
own = [a for a in attempts if a[1].startswith(project + os.sep)
       and os.sep + "tests" + os.sep not in a[1]]
print(json.dumps({"rc": rc, "tensorflow_loaded": "tensorflow" in sys.modules,
                  "project_tensorflow_imports": own}))
