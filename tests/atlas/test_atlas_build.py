"""One-process atlas: the store's contents, a rerun that renders nothing, and a resumed partial store."""

from __future__ import annotations

import json

import numpy as np
from atlas_helpers import BATCH, CHANNELS, LAYER, MODEL, SETTINGS, images_of, png_files

from featviz_core.atlas.local import LocalEngine
from featviz_core.atlas.runner import build_atlas
from featviz_core.atlas.store import AtlasStore, read_log


def test_a_store_holds_every_channel_with_its_image_and_final_activation(local_store):
    store = AtlasStore.open(local_store)
    assert store.model == MODEL and store.plan.batch == BATCH
    assert dict(store.identity.settings)["steps"] == 8 and dict(store.identity.settings)["size"] == 32
    assert len(store.identity.weights_sha256) == 64
    assert store.count() == (CHANNELS, CHANNELS) and png_files(local_store) == set(range(CHANNELS))
    images = images_of(local_store)
    assert all(image.shape == (32, 32, 3) and image.dtype == np.uint8 for image in images.values())
    assert len({image.tobytes() for image in images.values()}) == CHANNELS  # one distinct image per channel
    # The activation recorded is the one `render` reports for the same request (same batches, one thread).
    from featviz_core.models import load_model
    from featviz_core.render import render

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        request = store.identity.request(LAYER, (4, 5, 6, 7))
        result = render(request, model=load_model(MODEL, "cpu"), device="cpu", batch_size=store.plan.images_per_pass,
                        snapshot_every=request.steps)
    finally:
        torch.set_num_threads(before)
    assert [store.done(LAYER)[c] for c in (4, 5, 6, 7)] == [float(s) for s in result.scores]
    assert all((images[c] == result.images[i]).all() for i, c in enumerate((4, 5, 6, 7)))
    assert torch.get_num_threads() == before  # the engine gave the process its thread count back


def test_a_rerun_of_a_complete_store_renders_nothing(local_store):
    manifest = (local_store / "manifest.json").read_text()
    starts = [e for e in read_log(local_store) if e["event"] == "start"]
    summary = build_atlas(local_store, MODEL, LAYER, SETTINGS, engine=LocalEngine(threads=1))
    assert (summary.rendered, summary.batches, summary.done) == (0, 0, CHANNELS)
    assert [e for e in read_log(local_store) if e["event"] == "start"] == starts
    assert json.loads((local_store / "manifest.json").read_text())["layers"] == json.loads(manifest)["layers"]


def test_a_partial_store_resumes_with_only_the_missing_batches(tmp_path, local_store):
    path = tmp_path / "partial"
    first = build_atlas(path, MODEL, LAYER, SETTINGS, engine=LocalEngine(threads=1), batch=BATCH, max_batches=2)
    assert (first.done, first.rendered) == (8, 8)
    assert sorted(AtlasStore.open(path).done(LAYER)) == list(range(8))
    second = build_atlas(path, MODEL, LAYER, SETTINGS, engine=LocalEngine(threads=1))
    assert (second.done, second.rendered, second.batches) == (CHANNELS, 8, 2)
    started = [e["batch"] for e in read_log(path) if e["event"] == "start"]
    assert sorted(started) == sorted(f"{LAYER}:{c}-{c + 3}" for c in (0, 4, 8, 12))  # each batch once
    # Resumed or not, the images are the uninterrupted run's.
    resumed, straight = images_of(path), images_of(local_store)
    assert all((resumed[c] == straight[c]).all() for c in range(CHANNELS))
    assert AtlasStore.open(path).activations == AtlasStore.open(local_store).activations


def test_reconcile_adopts_entries_written_before_a_kill_and_drops_rows_without_a_file(tmp_path, local_store):
    import shutil

    path = tmp_path / "copy"
    shutil.copytree(local_store, path)
    store = AtlasStore.open(path)
    store.activations[LAYER][3] = None               # written, but the manifest update was lost
    store.save()
    store.image_path(LAYER, 9).unlink()              # listed, but the file is gone
    (path / "images" / LAYER / ".tmp-abc-5.png").write_bytes(b"\x89PNG half")  # a kill mid-write
    store = AtlasStore.open(path)
    assert store.reconcile() == (1, 1)
    assert 3 in store.done(LAYER) and 9 not in store.done(LAYER)
    assert store.done(LAYER)[3] == AtlasStore.open(local_store).done(LAYER)[3]
    assert not list((path / "images" / LAYER).glob(".tmp-*"))
    assert AtlasStore.open(path).missing(LAYER) == [9]  # saved
