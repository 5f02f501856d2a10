"""The sidebar's "Any network": a torchvision model picked by name, with random weights when asked, its
layers on the Layers page and the Explorer; published weights missing -> the download offer; a bad name ->
one clear line."""

from __future__ import annotations

from app_helpers import add_network as _add
from app_helpers import errors

R18 = "torchvision:resnet18?weights=random"


def test_picking_a_torchvision_model_with_random_weights(new_app):
    at = _add(new_app().run(), "torchvision:resnet18", random=True)
    assert not at.exception, [e.value for e in at.exception]
    picker = at.sidebar.selectbox(key="model")
    assert picker.value == R18 and picker.options[-1] == "resnet18 (torchvision, random weights (untrained))"
    at.switch_page("pages/layers.py").run()
    assert not at.exception and not errors(at)
    table = at.dataframe[0].value
    assert list(table["layer"])[:3] == ["relu", "layer1.0", "layer1.1"] and len(table) == 13
    row = table[table["layer"] == "layer3.1"].iloc[0]
    assert (row["channels"], row["spatial size"]) == (256, "14×14")
    link = at.get("page_link")[0]
    assert link.value == "Open layer3.1 in the Explorer" and not link.proto.disabled
    at.toggle(key="ly_main_only").set_value(False).run()
    assert len(at.dataframe[0].value) == 58  # every layer, one toggle away
    at.switch_page("pages/explorer.py").run()
    assert not at.exception and not errors(at)
    assert at.sidebar.selectbox(key="model").value == R18


def test_published_weights_missing_get_the_download_offer(new_app):
    at = _add(new_app().run(), "torchvision:resnet18", random=False)
    assert at.sidebar.selectbox(key="model").value == "torchvision:resnet18"
    warning = " ".join(w.value for w in at.sidebar.warning)
    assert "its weights are not available on this machine yet" in warning and "resnet18-f37072fd.pth" in warning
    assert any(b.proto.label.startswith("Download resnet18-f37072fd.pth") for b in at.sidebar.get("button"))


def test_a_bad_name_is_one_clear_line(new_app):
    at = new_app().run()
    before = at.sidebar.selectbox(key="model").value
    at = _add(at, "torchvision:resnet5", random=False)
    assert not at.exception
    message = at.sidebar.error[0].value
    assert message.startswith("unknown model 'torchvision:resnet5'; choose one of:")
    assert "closest: torchvision:resnet50" in message and "\n" not in message
    assert at.sidebar.selectbox(key="model").value == before
