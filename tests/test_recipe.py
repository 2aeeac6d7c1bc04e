"""Training settings: one resolution for `zoo train` and `zoo tune`."""

import pytest

from training import recipe


def test_preset_recipe_with_overrides():
    r = recipe.resolve("ptb_small", "language_model", {"epochs": 2, "bptt": 7})
    assert r["epochs"] == 2 and r["bptt"] == 7
    assert r["optimizer"] == "sgd" and r["global_clipnorm"] and r["clipnorm"] is None
    # Giving the other kind of clipping replaces the preset's.
    r = recipe.resolve("ptb_small", "language_model", {"clipnorm": 3.0})
    assert r["clipnorm"] == 3.0 and r["global_clipnorm"] is None
    # 0 turns clipping off.
    r = recipe.resolve("ptb_small", "language_model", {"global_clipnorm": 0})
    assert r["global_clipnorm"] is None


def test_family_recipes_and_bptt():
    r = recipe.resolve("sentiment_classifier", "sentiment_classifier", {})
    assert "bptt" not in r and r["lr_decay"] is None
    assert recipe.resolve("language_model", "language_model", {})["bptt"] == 35
    with pytest.raises(ValueError, match="Received: bptt=5"):
        recipe.resolve("sentiment_classifier", "sentiment_classifier", {"bptt": 5})


@pytest.mark.parametrize("given,message", [
    ({"clipnorm": 1.0, "global_clipnorm": 1.0}, "mutually exclusive"),
    ({"optimizer": "lion"}, "Received: optimizer='lion'"),
    ({"learning_rate": -1.0}, "Received: learning_rate=-1.0"),
    ({"learning_rate": float("inf")}, "Received: learning_rate=inf"),
    ({"epochs": 0}, "Received: epochs=0"),
    ({"lr_decay": 2.0}, "Received: lr_decay=2.0"),
    ({"lr_decay": "fast"}, "Received: lr_decay='fast'"),
    ({"lr_decay": [0.5]}, r"Received: lr_decay=\[0.5\]"),
    ({"lr_decay_after": "x"}, "Received: lr_decay_after='x'"),
    ({"lr_decay_after": 1.5}, "Received: lr_decay_after=1.5"),
    ({"lr_decay_after": -1}, "Received: lr_decay_after=-1"),
    ({"momentum": 0.9}, "Unknown training setting"),
    ({"clipnorm": float("inf")}, "finite.*Received: clipnorm=inf"),
    ({"clipnorm": float("nan")}, "finite.*Received: clipnorm=nan"),
    ({"global_clipnorm": float("nan")}, "Received: global_clipnorm=nan"),
])
def test_bad_settings_say_what_was_received(given, message):
    with pytest.raises(ValueError, match=message):
        recipe.resolve("language_model", "language_model", given)


def test_resume_keeps_the_stored_settings():
    stored = recipe.resolve("language_model", "language_model", {})
    assert recipe.for_resume(stored, {"epochs": 9})["epochs"] == 9
    with pytest.raises(ValueError, match="cannot resume with learning_rate"):
        recipe.for_resume(stored, {"learning_rate": 0.5})


def test_fine_tuning_settings_resolve_and_are_checked():
    from training import recipe as rl

    r = rl.resolve("imdb_transfer", "sentiment_classifier", {})
    assert r["lr_schedule"] == "one_cycle" and r["layer_lr_decay"] is None
    r = rl.resolve("imdb_transfer", "sentiment_classifier",
                   {"layer_lr_decay": 2.6, "unfreeze_steps": 30})
    assert r["layer_lr_decay"] == 2.6 and r["unfreeze_steps"] == 30
    r = rl.resolve("sentiment_classifier", "sentiment_classifier", {})
    assert r["lr_schedule"] == "constant" and r["layer_lr_decay"] is None
    assert r["unfreeze_steps"] is None and r["warmup_fraction"] == 0.1
    bad = [({"lr_schedule": "cyclic"}, "Unknown lr_schedule"),
           ({"layer_lr_decay": 0.5}, "layer_lr_decay"),
           ({"layer_lr_decay": float("nan")}, "Received: layer_lr_decay=nan"),
           ({"layer_lr_decay": float("inf")}, "Received: layer_lr_decay=inf"),
           ({"unfreeze_steps": -1}, "unfreeze_steps"),
           ({"warmup_fraction": 1.0}, "warmup_fraction"),
           ({"lr_schedule": "one_cycle", "lr_decay": 0.5}, "exclude each other")]
    for given, match in bad:
        with pytest.raises(ValueError, match=match):
            rl.resolve("sentiment_classifier", "sentiment_classifier", given)
    with pytest.raises(ValueError, match="are classifier settings"):
        rl.resolve("ptb_small", "language_model", {"layer_lr_decay": 2.0})
