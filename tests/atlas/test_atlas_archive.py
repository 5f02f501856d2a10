"""Pack a store, fetch it from a real localhost HTTP server, verify it; refuse tampered, truncated and
hostile archives without touching the destination."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest
from atlas_helpers import CHANNELS, images_of

from featviz_core.atlas import AtlasError
from featviz_core.atlas.archive import fetch, pack
from featviz_core.atlas.store import AtlasStore
from featviz_core.cli.dispatch import main


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the server's request log off stderr
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on a free localhost port; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def packed(local_store, tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("served")
    archive = folder / "atlas.tar"
    digest, size = pack(local_store, archive)
    assert digest == sha256(archive) and size == archive.stat().st_size
    return archive, digest


def test_pack_prints_the_digest_and_packs_the_same_store_to_the_same_bytes(capsys, local_store, packed, tmp_path):
    archive, digest = packed
    assert main(["atlas", "pack", str(local_store), "--out", str(tmp_path / "again.tar")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{tmp_path / 'again.tar'}: {archive.stat().st_size} bytes", f"sha256 {digest}"]
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    name = AtlasStore.open(local_store).identity.name
    assert names[:3] == [name, f"{name}/manifest.json", f"{name}/images"]
    assert sum(n.endswith(".png") for n in names) == CHANNELS and not any("renders.jsonl" in n for n in names)


def test_fetch_from_a_localhost_server_unpacks_a_verified_store(capsys, local_store, packed, tmp_path):
    archive, digest = packed
    into = tmp_path / "atlases"
    with serve(archive.parent) as base:
        assert main(["atlas", "fetch", f"{base}/{archive.name}", "--sha256", digest, "--into", str(into)]) == 0
        path = Path(capsys.readouterr().out.strip())
        assert path == into / AtlasStore.open(local_store).identity.name
        fetched = AtlasStore.open(path)
        assert fetched.identity == AtlasStore.open(local_store).identity
        assert fetched.activations == AtlasStore.open(local_store).activations
        assert all((a == b).all() for a, b in zip(images_of(path).values(), images_of(local_store).values()))
        # Fetching the same archive again keeps the store; nothing else is left in the folder.
        assert fetch(f"{base}/{archive.name}", digest, into) == path
    assert sorted(p.name for p in into.iterdir()) == [path.name]


def refused(capsys, url: str, digest: str, into: Path) -> str:
    status = main(["atlas", "fetch", url, "--sha256", digest, "--into", str(into)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    return lines[0]


def test_a_tampered_archive_is_refused_and_nothing_is_written(capsys, packed, tmp_path):
    archive, digest = packed
    served = tmp_path / "served"
    served.mkdir()
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    (served / "atlas.tar").write_bytes(bytes(data))
    into = tmp_path / "atlases"
    into.mkdir()
    (into / "keep.txt").write_text("mine")
    with serve(served) as base:
        line = refused(capsys, f"{base}/atlas.tar", digest, into)
    assert line.startswith(f"error: checksum mismatch for {base}/atlas.tar: expected SHA-256 {digest}, got ")
    assert sorted(p.name for p in into.iterdir()) == ["keep.txt"]


def test_a_truncated_archive_is_refused_even_with_its_own_digest(capsys, packed, tmp_path):
    archive, _ = packed
    served = tmp_path / "served"
    served.mkdir()
    cut = served / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2 + 100])
    into = tmp_path / "atlases"
    with serve(served) as base:
        line = refused(capsys, f"{base}/cut.tar", sha256(cut), into)
    assert line.startswith("error: the archive is truncated or damaged")
    assert list(into.iterdir()) == []


def test_an_archive_with_paths_outside_an_atlas_is_refused(capsys, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    evil = served / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        for name, data in (("atlas-x-0/manifest.json", b"{}"), ("atlas-x-0/../../outside.txt", b"owned")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    into = tmp_path / "atlases"
    with serve(served) as base:
        line = refused(capsys, f"{base}/evil.tar", sha256(evil), into)
    assert line == "error: the archive holds 'atlas-x-0/../../outside.txt', which is not part of an atlas; refusing it"
    assert not (tmp_path / "outside.txt").exists() and list(into.iterdir()) == []


def test_bad_digests_urls_and_existing_files_are_refused(capsys, local_store, packed, tmp_path):
    archive, digest = packed
    assert refused(capsys, "http://127.0.0.1:9/a.tar", "abc", tmp_path) == \
        "error: --sha256 must be the archive's 64-digit hex SHA-256 (printed by `atlas pack`)"
    assert refused(capsys, "ftp://host/a.tar", digest, tmp_path) == \
        "error: the atlas URL must start with http:// or https://, got 'ftp://host/a.tar'"
    before = archive.read_bytes()
    with pytest.raises(AtlasError, match="already exists; choose another name or delete it"):
        pack(local_store, archive)
    assert archive.read_bytes() == before
    with pytest.raises(AtlasError, match="holds no atlas"):
        pack(tmp_path, tmp_path.parent / "x.tar")


# ----- portable folder names -------------------------------------------------------------------------------
PORTABLE = r"atlas-[A-Za-z0-9._-]+"


def test_zoo_model_names_stay_exactly_as_they_were():
    """Atlases of the zoo's models made before names were portable keep their folder names."""
    from featviz_core.atlas.identity import AtlasIdentity

    lite0 = AtlasIdentity.create("efficientnet-lite0", "ab" * 32, {"steps": 8, "size": 32})
    inception = AtlasIdentity.create("inceptionv1", "cd" * 32, {"steps": 512, "size": 224})
    assert lite0.name == lite0.legacy_name == "atlas-efficientnet-lite0-41849e35627e3530"
    assert inception.name == inception.legacy_name == "atlas-inceptionv1-f1e17c40fe2237df"


@pytest.mark.parametrize("model", ["torchvision:resnet18", "torchvision:resnet18?weights=random", "file:/x/y.pt2",
                                   "torchvision:resnet18?weights=/some/path", "a:b", "a?b", ":::",
                                   "file:/" + "folder/" * 60 + "net.pt2"])
def test_any_model_name_gives_one_portable_folder_name(model):
    import re

    from featviz_core.atlas.identity import AtlasIdentity

    identity = AtlasIdentity.create(model, "ab" * 32, {"steps": 8})
    assert re.fullmatch(PORTABLE, identity.name) and len(identity.name) < 100, identity.name
    assert identity.name.endswith(identity.key) and identity.legacy_name == f"atlas-{model}-{identity.key}"
    # Two models written alike once their other characters are replaced still get two names.
    twin = AtlasIdentity.create(model.replace(":", "?") if ":" in model else model + "?", "ab" * 32, {"steps": 8})
    assert twin.name != identity.name and twin.name.split("-")[-2] != identity.name.split("-")[-2]


def test_an_atlas_of_a_model_named_with_a_colon_and_a_query_packs_and_fetches(tmp_path, capsys):
    """A torchvision network with random weights (``torchvision:resnet18?weights=random``): its archive holds
    one portable folder, which fetch accepts and puts in place under the same name."""
    import re

    from featviz_core.atlas.runner import build_atlas

    model = "torchvision:resnet18?weights=random"
    build_atlas(tmp_path / "r18", model, "layer1", {"steps": 1, "size": 32}, batch=2, max_batches=1)
    served = tmp_path / "served"
    served.mkdir()
    digest, _ = pack(tmp_path / "r18", served / "r18.tar")
    name = AtlasStore.open(tmp_path / "r18").identity.name
    with tarfile.open(served / "r18.tar") as tar:
        assert {n.partition("/")[0] for n in tar.getnames()} == {name} and re.fullmatch(PORTABLE, name)
    into = tmp_path / "atlases"
    with serve(served) as base:
        assert main(["atlas", "fetch", f"{base}/r18.tar", "--sha256", digest, "--into", str(into)]) == 0
    assert Path(capsys.readouterr().out.strip()) == into / name
    assert [p.name for p in into.iterdir()] == [name]
    fetched = AtlasStore.open(into / name)
    assert fetched.model == model and sorted(fetched.done("layer1")) == [0, 1]
