"""A visitor's zip of images: every hostile or bad archive is refused with one line naming the rule and its
bound, before anything is written where it should not be; files that are not images are skipped and
counted; a good zip unpacks its images only (real zips built here with ``zipfile``)."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from examples_sample import picture_png, pictures_zip, zip_bytes

from featviz_core.examples import ExamplesError
from featviz_core.examples.archive import MB, ZipLimits, read_listing, unpack_zip
from featviz_core.photos.uploads import UploadLimits

SMALL = ZipLimits(max_images=4, max_entries=8, max_zip_bytes=2 * MB, max_unpacked_bytes=3 * MB, max_ratio=50,
                  image=UploadLimits(max_bytes=1 * MB, max_side=512))


def refused(data: bytes, tmp_path: Path, limits: ZipLimits = SMALL) -> str:
    """The one-line refusal of unpacking ``data``; nothing may be written outside ``tmp_path/out``."""
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExamplesError) as caught:
        unpack_zip(data, out, limits)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("the ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing landed beside the folder
    return message


def with_entry(info: zipfile.ZipInfo, data: bytes, **others: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in others.items():
            archive.writestr(name, content)
        archive.writestr(info, data)
    return buffer.getvalue()


def patch_headers(data: bytes, name: bytes, *, flags: int | None = None, size: int | None = None) -> bytes:
    """The zip with the entry ``name``'s general-purpose flags and/or declared unpacked size changed, in its
    local header and in the central directory (what a hand-made hostile zip does)."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04" + out[4:6])  # the first local header (one entry per test zip)
    central = out.find(b"PK\x01\x02")
    assert out[central + 46:central + 46 + len(name)] == name
    if flags is not None:
        struct.pack_into("<H", out, local + 6, flags)
        struct.pack_into("<H", out, central + 8, flags)
    if size is not None:
        struct.pack_into("<I", out, local + 22, size)
        struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    message = refused(picture_png(0), tmp_path)
    assert "not a zip archive" in message and ".zip of PNG, JPEG or WEBP" in message


def test_an_empty_upload_is_refused(tmp_path):
    assert "is empty" in refused(b"", tmp_path)


def test_a_zip_above_the_upload_size_is_refused(tmp_path):
    data = zip_bytes({"big.png": picture_png(1, (700, 700))}, compression=zipfile.ZIP_STORED)
    limits = ZipLimits(max_zip_bytes=len(data) - 1)
    message = refused(data, tmp_path, limits)
    assert "may be uploaded" in message and f"{(len(data) - 1) / MB:.3g} MB" in message


def test_too_many_entries_are_refused_before_the_directory_is_read(tmp_path):
    data = zip_bytes({f"notes/n{i}.txt": b"x" for i in range(9)})
    message = refused(data, tmp_path)
    assert "9 entries" in message and "at most 8 (files and folders)" in message


def test_too_many_images_are_refused(tmp_path):
    message = refused(pictures_zip(5), tmp_path)
    assert "5 images" in message and "at most 4 are allowed" in message


@pytest.mark.parametrize("name", ["/etc/featviz-evil.png", "C:/Windows/evil.png", "\\\\server\\evil.png"])
def test_an_absolute_path_is_refused(tmp_path, name):
    message = refused(with_entry(zipfile.ZipInfo(name), picture_png(2)), tmp_path)
    assert "absolute path" in message and "inside the zip's root" in message


@pytest.mark.parametrize("name", ["../evil.png", "pictures/../../evil.png", "a\\..\\..\\evil.png"])
def test_a_path_outside_the_root_is_refused(tmp_path, name):
    message = refused(with_entry(zipfile.ZipInfo(name), picture_png(3), **{"ok.png": picture_png(4)}), tmp_path)
    assert "outside the zip's root" in message and "'..'" in message
    assert not (tmp_path.parent / "evil.png").exists()


def test_a_symbolic_link_is_refused(tmp_path):
    link = zipfile.ZipInfo("pictures/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    message = refused(with_entry(link, b"/etc/passwd"), tmp_path)
    assert "symbolic link" in message and "only plain files and folders" in message


def test_a_special_file_is_refused(tmp_path):
    fifo = zipfile.ZipInfo("pictures/pipe.png")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    message = refused(with_entry(fifo, b""), tmp_path)
    assert "not a plain file" in message and "only plain files and folders" in message


def test_an_encrypted_entry_is_refused(tmp_path):
    data = patch_headers(zip_bytes({"secret.png": picture_png(5)}), b"secret.png", flags=0x1)
    message = refused(data, tmp_path)
    assert "encrypted" in message and "without a password" in message


def test_a_zip_inside_the_zip_is_refused_by_name_and_by_content(tmp_path):
    inner = pictures_zip(1)
    for case in ("by-name", "by-content"):
        (tmp_path / case).mkdir()
    message = refused(zip_bytes({"more.zip": inner, "a.png": picture_png(6)}), tmp_path / "by-name")
    assert "itself a zip" in message and "zips inside the zip are not accepted" in message
    message = refused(zip_bytes({"disguised.png": inner}), tmp_path / "by-content")
    assert "'disguised.png' is itself a zip" in message


def test_a_file_above_the_per_file_size_is_refused(tmp_path):
    data = zip_bytes({"huge.png": picture_png(7, (800, 800))}, compression=zipfile.ZIP_STORED)
    message = refused(data, tmp_path, ZipLimits(image=UploadLimits(max_bytes=1 * MB)))
    assert "unpacks to 1.8 MB" in message and "each file may be at most 1 MB" in message


def test_a_total_above_the_unpacked_bound_is_refused(tmp_path):
    files = {f"p{i}.png": picture_png(10 + i, (420, 420)) for i in range(4)}  # about 0.5 MB each
    data = zip_bytes(files, compression=zipfile.ZIP_STORED)
    limits = ZipLimits(max_unpacked_bytes=int(1.5 * MB))
    message = refused(data, tmp_path, limits)
    assert "in all" in message and "at most 1.5 MB are allowed" in message


def test_a_zip_bomb_ratio_is_refused(tmp_path):
    data = zip_bytes({"zeros.png": bytes(2 * MB)})  # deflates about a thousand to one
    message = refused(data, tmp_path, ZipLimits(max_ratio=100))
    assert "zip bomb" in message and "at most 100 to 1" in message


def test_a_lying_header_cannot_make_it_write_more_than_it_declares(tmp_path):
    """An entry that declares 1000 bytes but unpacks to 8 MB: at most the declared bytes are ever written,
    and the zip is refused."""
    data = patch_headers(zip_bytes({"bomb.png": bytes(8 * MB)}), b"bomb.png", size=1000)
    message = refused(data, tmp_path, ZipLimits())
    assert "'bomb.png'" in message and "header does not match its data" in message
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 1000


def test_the_same_path_twice_is_refused(tmp_path):
    data = zip_bytes({"a/b.png": picture_png(8), "a\\b.png": picture_png(9)})
    assert "'a/b.png' twice" in refused(data, tmp_path)


def test_a_zip_without_images_is_refused(tmp_path):
    message = refused(zip_bytes({"readme.txt": b"hello", "data/table.csv": b"1,2"}), tmp_path)
    assert "holds no images" in message and "2 other file(s) skipped" in message


def test_files_that_are_not_images_are_skipped_and_counted_and_only_images_are_unpacked(tmp_path):
    data = pictures_zip(3, **{"readme.txt": b"hi", "__MACOSX/pictures/._p000.png": b"meta", ".DS_Store": b"x",
                              "pictures/broken.png": b"not a png at all", "./pictures/deep/./q.JPG": b"jpeg?"})
    listing = read_listing(data, ZipLimits())
    assert listing.images == ["pictures/p000.png", "pictures/p001.png", "pictures/p002.png", "pictures/broken.png",
                              "pictures/deep/q.JPG"]
    assert dict(listing.skipped) == {"readme.txt": "not an image (PNG, JPEG or WEBP by its name)",
                                     "__MACOSX/pictures/._p000.png": "hidden file", ".DS_Store": "hidden file"}
    out = tmp_path / "out"
    out.mkdir()
    unpack_zip(data, out, ZipLimits())
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert found == ["pictures/broken.png", "pictures/deep/q.JPG", "pictures/p000.png", "pictures/p001.png",
                     "pictures/p002.png"]
    assert (out / "pictures/p001.png").read_bytes() == picture_png(1, (48, 56))


def test_the_bounds_are_read_from_their_settings(monkeypatch):
    for name, value in (("FEATVIZ_ZIP_MAX_IMAGES", "7"), ("FEATVIZ_ZIP_MAX_ENTRIES", "9"),
                        ("FEATVIZ_ZIP_MAX_MB", "3"), ("FEATVIZ_ZIP_MAX_UNPACKED_MB", "5"),
                        ("FEATVIZ_ZIP_MAX_RATIO", "20"), ("FEATVIZ_MAX_UPLOAD_MB", "2"),
                        ("FEATVIZ_MAX_UPLOAD_SIDE", "300")):
        monkeypatch.setenv(name, value)
    limits = ZipLimits.from_env()
    assert (limits.max_images, limits.max_entries, limits.max_zip_bytes, limits.max_unpacked_bytes) == \
        (7, 9, 3 * MB, 5 * MB)
    assert (limits.max_ratio, limits.image.max_bytes, limits.image.max_side) == (20, 2 * MB, 300)
    assert "at most 3 MB, 7 images, 5 MB unpacked, each file at most 2 MB" in limits.describe()
