"""Validation of images that visitors upload: format, size and pixel count checked before decoding.

Only the bytes are looked at, never the file name or the type the browser claims: the format is the one
Pillow detects in the data, and only PNG, JPEG and WEBP decoders are even tried. Width and height are read
from the header and checked against a pixel limit before any pixel is decoded, so a small file that would
inflate into gigabytes (a decompression bomb) is refused cheaply. Animated files give their first frame.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from featviz_core.errors import RequestError

#: Pillow format name -> what a person calls it.
ALLOWED_FORMATS: dict[str, str] = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP"}
#: What Pillow may report for those decoders: a JPEG with extra pictures (phone cameras store depth maps or
#: previews this way) opens as "MPO"; it is a JPEG, and its first picture is used.
DECODED_AS: dict[str, str] = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP"}
#: File name endings the upload widget offers (a hint for the browser only; the bytes decide).
ALLOWED_EXTENSIONS: tuple[str, ...] = ("png", "jpg", "jpeg", "webp")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_SIDE = 4096


@dataclass(frozen=True)
class UploadLimits:
    """Bounds an uploaded image must satisfy.

    Attributes:
        max_bytes: largest accepted file, in bytes (FEATVIZ_MAX_UPLOAD_MB, default 10 MB).
        max_side: largest accepted width or height, in pixels (FEATVIZ_MAX_UPLOAD_SIDE, default 4096);
            the pixel limit is ``max_side ** 2``.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE

    @property
    def max_pixels(self) -> int:
        return self.max_side * self.max_side

    @classmethod
    def from_env(cls) -> "UploadLimits":
        from featviz_core.config import _env_float, _env_int

        megabytes = _env_float("FEATVIZ_MAX_UPLOAD_MB", DEFAULT_MAX_BYTES / 1024 / 1024)
        return cls(max_bytes=max(1, int(megabytes * 1024 * 1024)),
                   max_side=max(1, _env_int("FEATVIZ_MAX_UPLOAD_SIDE", DEFAULT_MAX_SIDE)))


def allowed_text(limits: UploadLimits) -> str:
    """What is allowed, for error messages and help text."""
    return (f"a PNG, JPEG or WEBP image of at most {limits.max_bytes / 1024 / 1024:g} MB and "
            f"{limits.max_side}x{limits.max_side} pixels")


def load_upload(data: bytes, limits: UploadLimits | None = None) -> Image.Image:
    """Check uploaded bytes and decode their first frame.

    Args:
        data: the file's content, exactly as uploaded.
        limits: bounds to enforce (default: from the environment).

    Returns:
        An RGB image (transparency composited over white, EXIF orientation applied), fully loaded and
        independent of ``data``.

    Raises:
        RequestError: not bytes, empty, too large, not PNG/JPEG/WEBP, too many pixels, or damaged; the
            message says what is allowed.
    """
    limits = limits or UploadLimits.from_env()
    allowed = allowed_text(limits)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RequestError(f"the upload must be file content (bytes); send {allowed}")
    data = bytes(data)
    if not data:
        raise RequestError(f"the uploaded file is empty; send {allowed}")
    if len(data) > limits.max_bytes:
        raise RequestError(f"the uploaded file is {len(data) / 1024 / 1024:.1f} MB; send {allowed}")
    # A decompression bomb warning or error from Pillow's own (larger) limit becomes our refusal too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            if isinstance(exc, UnidentifiedImageError):
                raise RequestError(f"the uploaded file is not an image featviz accepts; send {allowed}") from None
            raise RequestError(f"the uploaded image has too many pixels; send {allowed}") from None
        except Exception as exc:  # damaged headers make decoders raise all sorts of errors
            raise RequestError(f"the uploaded image could not be read ({type(exc).__name__}); send {allowed}") from None
        with image:
            if image.format not in DECODED_AS:  # belt and braces: formats= already restricts decoders
                raise RequestError(f"the uploaded file is {image.format or 'of an unknown format'}; send {allowed}")
            width, height = image.size
            if width < 1 or height < 1:
                raise RequestError(f"the uploaded image has no pixels; send {allowed}")
            if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
                raise RequestError(f"the uploaded image is {width}x{height} pixels; send {allowed}")
            try:
                image.seek(0)  # animated PNG / WEBP: the first frame only
                image.load()
                frame = ImageOps.exif_transpose(image) or image
                return _to_rgb(frame)
            except (Image.DecompressionBombWarning, Image.DecompressionBombError):
                raise RequestError(f"the uploaded image has too many pixels; send {allowed}") from None
            except Exception as exc:  # truncated or corrupt pixel data
                raise RequestError(
                    f"the uploaded {DECODED_AS[image.format]} image is damaged or truncated ({type(exc).__name__}); "
                    f"send {allowed}"
                ) from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any decoded mode -> RGB; transparent pixels become white (what a viewer shows on a white page)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale PNG: keep the top 8 bits
        array = np.asarray(image, dtype=np.int64)
        scale = 256 if array.max(initial=0) > 255 else 1
        return Image.fromarray((array // scale).clip(0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


__all__ = ["ALLOWED_EXTENSIONS", "ALLOWED_FORMATS", "DECODED_AS", "UploadLimits", "allowed_text", "load_upload"]
