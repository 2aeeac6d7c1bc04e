"""Small data files the tests write, and the project's scripts loaded as
modules."""

import importlib.util
import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_script(relative_path, name):
    """Imports a script of the repository (e.g. `bench/readme_table.py`),
    which is not a package module, as module `name`."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_csv(path, header, rows):
    """Writes a CSV file (RFC 4180 quoting) of `header` and `rows`; returns
    `str(path)`."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def write(path, text):
    """Writes `text` (str as UTF-8 with newlines kept, or bytes) to `path`,
    creating folders; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return path


def sentiment_tsv(path, rows, extra_words=("the", "film"), lengths=(2, 6)):
    """A `sentence<TAB>label` file of `rows` short texts, labels 0/1
    alternating, drawn from a few positive or negative words."""
    rng = random.Random(0)
    pos, neg = "good great fine lovely".split(), "bad awful poor dull".split()
    lines = ["sentence\tlabel"]
    for i in range(rows):
        words = (pos if i % 2 else neg) + list(extra_words)
        lines.append(" ".join(rng.choice(words) for _ in
                              range(rng.randint(*lengths))) + f"\t{i % 2}")
    write(path, "\n".join(lines) + "\n")
    return str(path)
