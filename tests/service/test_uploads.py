"""Uploaded images: only PNG, JPEG and WEBP by their bytes, bounded in size and pixels, first frame only."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from featviz_core.errors import RequestError
from featviz_core.photos.uploads import UploadLimits, load_upload

ALLOWED = "send a PNG, JPEG or WEBP image of at most 10 MB and 4096x4096 pixels"


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(array)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (the pixel data is a few bytes: a would-be bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_allowed_formats_decode_to_rgb(fmt):
    source = gradient()
    image = load_upload(encode(source, fmt, quality=95) if fmt != "PNG" else encode(source, fmt))
    assert image.mode == "RGB" and image.size == (64, 48)
    difference = np.abs(np.asarray(image, dtype=int) - np.asarray(source, dtype=int)).mean()
    assert difference < (0.01 if fmt == "PNG" else 6)


@pytest.mark.parametrize("fmt, options", [
    ("GIF", {}), ("BMP", {}), ("TIFF", {}), ("ICO", {}), ("PPM", {}), ("TGA", {}), ("PDF", {}),
])
def test_other_image_formats_are_refused_whatever_the_name(fmt, options):
    data = encode(gradient(), fmt, **options)
    with pytest.raises(RequestError, match=f"not an image featviz accepts; {ALLOWED}"):
        load_upload(data)


@pytest.mark.parametrize("data", [
    b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"%PDF-1.4\n", b"PK\x03\x04zipzipzip", b"\x00" * 100,
    "not bytes".encode("utf-16"),
])
def test_non_images_are_refused(data):
    with pytest.raises(RequestError, match=ALLOWED):
        load_upload(data)


def test_empty_and_non_bytes_are_refused():
    with pytest.raises(RequestError, match=f"the uploaded file is empty; {ALLOWED}"):
        load_upload(b"")
    with pytest.raises(RequestError, match="must be file content"):
        load_upload("photo.png")  # a name is never opened


def test_byte_limit():
    data = encode(gradient(), "PNG")
    limits = UploadLimits(max_bytes=len(data) - 1)
    with pytest.raises(RequestError, match=r"the uploaded file is 0\.0 MB; send a PNG, JPEG or WEBP image of at most"):
        load_upload(data, limits)
    assert load_upload(data, UploadLimits(max_bytes=len(data))).size == (64, 48)


@pytest.fixture
def decoding(monkeypatch):
    """What Pillow was asked to do beyond reading headers: allocate an image's pixels, or make a decoder."""
    from PIL import ImageFile

    asked: list[str] = []
    allocate, make_decoder = ImageFile.ImageFile.load_prepare, Image._getdecoder

    def load_prepare(self):
        asked.append(f"pixels {self.size[0]}x{self.size[1]}")
        return allocate(self)

    def getdecoder(mode, decoder_name, *args, **kwargs):
        asked.append(f"{decoder_name} decoder")
        return make_decoder(mode, decoder_name, *args, **kwargs)

    monkeypatch.setattr(ImageFile.ImageFile, "load_prepare", load_prepare)
    monkeypatch.setattr(Image, "_getdecoder", getdecoder)
    return asked


def test_decoding_is_seen_by_the_decoding_fixture(decoding):
    """The control for the header-only refusals below: a real decode shows up."""
    data = encode(gradient(), "PNG")
    decoding.clear()  # making the test image decoded raw pixels
    assert load_upload(data).size == (64, 48)
    assert decoding[:2] == ["pixels 64x48", "zip decoder"], decoding


@pytest.mark.parametrize("width, height", [(4097, 10), (10, 4097), (5000, 5000), (10000, 10000), (100000, 100000)])
def test_too_many_pixels_refused_from_the_header_without_decoding(width, height, decoding):
    data = png_header_only(width, height)
    assert len(data) < 200
    with pytest.raises(RequestError) as info:
        load_upload(data)
    assert decoding == [], "pixels were allocated or decoded for an image refused by its header"
    message = str(info.value)
    assert message.endswith(ALLOWED)
    assert f"{width}x{height} pixels" in message or "too many pixels" in message


def test_pillows_own_bomb_limit_is_caught_even_with_a_generous_limit_of_ours():
    # Our limit above Pillow's: Pillow's DecompressionBombError/Warning must still become a RequestError.
    huge = UploadLimits(max_side=200_000)
    for side in (10_000, 100_000):
        with pytest.raises(RequestError, match="too many pixels"):
            load_upload(png_header_only(side, side), huge)


def test_pixel_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("FEATVIZ_MAX_UPLOAD_SIDE", "32")
    monkeypatch.setenv("FEATVIZ_MAX_UPLOAD_MB", "0.5")
    limits = UploadLimits.from_env()
    assert (limits.max_side, limits.max_bytes) == (32, 512 * 1024)
    with pytest.raises(RequestError, match=r"64x48 pixels; send a PNG, JPEG or WEBP image of at most 0.5 MB and 32x32"):
        load_upload(encode(gradient(), "PNG"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_refused(fmt):
    data = encode(gradient(256, 256), fmt)
    with pytest.raises(RequestError, match=f"damaged or truncated.*{ALLOWED}|could not be read|not an image"):
        load_upload(data[: len(data) // 2])


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animations_give_their_first_frame(fmt):
    red, blue = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))
    data = encode(red, fmt, save_all=True, append_images=[blue], duration=100, loop=0,
                  **({"lossless": True} if fmt == "WEBP" else {}))
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    image = load_upload(data)
    assert image.getpixel((8, 8)) == (255, 0, 0)


def test_multi_picture_jpeg_from_a_phone_gives_its_first_picture():
    red, blue = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))
    data = encode(red, "MPO", save_all=True, append_images=[blue])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert max(abs(a - b) for a, b in zip(load_upload(data).getpixel((8, 8)), (255, 0, 0))) < 8


def test_modes_become_rgb_and_transparency_becomes_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert load_upload(encode(rgba, "PNG")).getpixel((0, 0)) == (255, 255, 255)
    half = Image.new("RGBA", (8, 8), (0, 0, 0, 128))
    assert load_upload(encode(half, "PNG")).getpixel((0, 0)) in {(127, 127, 127), (126, 126, 126)}
    grey = Image.new("L", (8, 8), 77)
    assert load_upload(encode(grey, "PNG")).getpixel((0, 0)) == (77, 77, 77)
    deep = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    assert load_upload(encode(deep, "PNG")).getpixel((0, 0)) == (255, 255, 255)
    palette = gradient(8, 8).convert("P")
    assert load_upload(encode(palette, "PNG")).mode == "RGB"
    cmyk = Image.new("CMYK", (8, 8), (0, 0, 0, 0))
    assert load_upload(encode(cmyk, "JPEG")).getpixel((0, 0))[0] > 250


def test_exif_orientation_is_applied():
    image = gradient(64, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rotated = load_upload(encode(image, "JPEG", exif=exif.tobytes()))
    assert rotated.size == (32, 64)


def test_result_is_independent_of_the_upload_buffer():
    data = bytearray(encode(gradient(), "PNG"))
    image = load_upload(bytes(data))
    data[:] = b"\x00" * len(data)
    assert image.getpixel((63, 47)) != (0, 0, 0)
