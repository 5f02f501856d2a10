"""A finished examples store whose examples.json parses but is damaged (a layer or channel of the wrong shape,
a path that leaves the store or the images folder, a crop missing or not a PNG, text for a number, boxes of
the wrong length) is skipped when it is opened: the lookup leaves it out, says in one line which store and
what is wrong, and logs one warning without a traceback; the good stores beside it are still found."""

from __future__ import annotations

import logging
import shutil

import pytest
from examples_sample import DAMAGES, LAYER, MODEL, damaged_store

from featviz_core.examples.lookup import find_examples, survey_examples


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_a_damaged_store_is_skipped_with_one_line_that_says_why(local_examples, tmp_path, caplog, name):
    root = tmp_path / "stores"
    root.mkdir()
    shutil.copytree(local_examples, root / "known", symlinks=True)
    store, says = damaged_store(local_examples, root, name, LAYER)
    with caplog.at_level(logging.WARNING, logger="featviz_core.examples.lookup"):
        assert [s.path for s in find_examples(MODEL, LAYER, roots=[root])] == [root / "known"]
        found, skipped = survey_examples(MODEL, LAYER, roots=[root])
    assert [s.path for s in found] == [root / "known"]
    assert [s.path for s in skipped] == [store]
    line = skipped[0].line()
    assert line.startswith(f"The examples store {store.name} is skipped: ") and says in line, (says, line)
    assert "\n" not in line and line.endswith(".")
    warnings = [r for r in caplog.records if str(store) in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING and warnings[0].exc_info is None
    assert says in warnings[0].getMessage()
    # The same unchanged file is not checked (nor logged) again.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="featviz_core.examples.lookup"):
        assert survey_examples(MODEL, LAYER, roots=[root])[1] == skipped
    assert not caplog.records


def test_a_store_found_as_a_root_and_one_of_another_model_are_told_apart(local_examples, tmp_path):
    store, says = damaged_store(local_examples, tmp_path, "activation-text", LAYER)
    assert find_examples(MODEL, LAYER, roots=[store]) == []
    (skipped,) = survey_examples(MODEL, LAYER, roots=[store])[1]
    assert says in skipped.line()
    # A damaged store that says it is of another model, or lacks the layer, is no line on this model's pages.
    assert survey_examples("torchvision:resnet18", LAYER, roots=[store]) == ([], [])
    assert survey_examples(MODEL, "_blocks.0", roots=[store]) == ([], [])
    assert survey_examples(None, None, roots=[store])[1] == [skipped]


def test_the_good_store_opens_and_every_file_it_names_is_inside_it(local_examples):
    (store,) = find_examples(MODEL, LAYER, roots=[local_examples])
    assert survey_examples(MODEL, LAYER, roots=[local_examples])[1] == []
    entry = store.examples(LAYER, 0)["top"][0]
    assert store.file_bytes(entry["crop"]).startswith(b"\x89PNG") and store.view(entry).ndim == 3
    assert store.file_bytes("../examples.json") is None
