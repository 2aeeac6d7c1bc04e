"""Small data files the tests write."""

import random


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
