"""A model of fewer classes than the ten digits gets a note, in one set of words (issue 27)."""

from __future__ import annotations

from mnist_sgd.predict.predictor import classes_note


def test_the_note_names_the_classes() -> None:
    assert classes_note(["3", "7"]) == (
        "this model knows only two classes, 3 and 7: "
        "it calls every image one of them, whatever it shows"
    )
    assert classes_note(["1", "2", "3"]) == (
        "this model knows only 3 classes, 1, 2 and 3: "
        "it calls every image one of them, whatever it shows"
    )
    assert classes_note([str(d) for d in range(10)]) is None
    assert classes_note([]) is None
