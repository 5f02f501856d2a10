"""The Photo page in a real browser: upload, the channels it excites, the link into the Explorer, bad files."""

from __future__ import annotations

import asyncio
import io
import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image
from server_helpers import CHROMIUM, CHROMIUM_ARGS, AppServer

from featviz_core.objectives.targets import format_channels
from featviz_core.photos.analysis import top_channels
from featviz_core.photos.uploads import load_upload

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 90_000


def photo_bytes() -> bytes:
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((320, 240), Image.BICUBIC).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="GIF")
    return buffer.getvalue()


async def drive(url: str, good: bytes, bad: bytes) -> dict:
    from playwright.async_api import async_playwright

    seen: dict = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            await page.goto(f"{url}/photo")
            await page.get_by_text("Choose a PNG, JPEG or WEBP image").wait_for()
            upload = page.locator("input[type=file]")
            # A GIF named like a PNG: the bytes decide, not the name.
            await upload.set_input_files(files=[{"name": "cat.png", "mimeType": "image/png", "buffer": bad}])
            error = page.get_by_text("not an image featviz accepts")
            await error.wait_for()
            seen["error"] = await error.first.inner_text()
            await upload.set_input_files(files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": good}])
            await page.get_by_text("this photo excites most").wait_for()
            seen["heading"] = await page.get_by_text("this photo excites most").first.inner_text()
            link = page.get_by_role("link", name=re.compile(r"Render these \d+ channels in the Explorer"))
            seen["href"] = await link.get_attribute("href")
            await link.click()
            # The Explorer opens with those channels and starts rendering them (its settings folded away).
            await page.get_by_text("Settings", exact=True).wait_for()
            await page.get_by_text("Queued:").or_(page.get_by_text(re.compile(r"Step \d+ of \d+"))).first.wait_for()
            seen["explorer_url"] = page.url
            # The form fills in from the link on the page's next run: wait (bounded) for the value.
            field = page.get_by_label("Or a list of channels", exact=True)
            for _ in range(120):
                seen["channel_list"] = await field.input_value()
                if seen["channel_list"]:
                    break
                await page.wait_for_timeout(250)
            await context.close()
        finally:
            await browser.close()
    return seen


def test_photo_page_lists_the_top_channels_and_opens_them_in_the_explorer(tmp_path, effnet):
    good, bad = photo_bytes(), gif_bytes()
    server = AppServer(tmp_path, {"FEATVIZ_WORKERS": "1"})
    try:
        server.wait_healthy()
        seen = asyncio.run(drive(server.url, good, bad))
    finally:
        server.stop()
    assert seen["error"].endswith("send a PNG, JPEG or WEBP image of at most 10 MB and 4096x4096 pixels")
    expected = [c.channel for c in top_channels("efficientnet-lite0", "_blocks.10", load_upload(good), 8, model=effnet)]
    assert "The 8 channels of _blocks.10 this photo excites most" in seen["heading"]
    query = parse_qs(urlparse(seen["href"]).query)
    assert query == {"model": ["efficientnet-lite0"], "layer": ["_blocks.10"],
                     "channels": [format_channels(tuple(expected))]}
    explorer = parse_qs(urlparse(seen["explorer_url"]).query)
    assert explorer["channels"] == [format_channels(tuple(expected))] and explorer["layer"] == ["_blocks.10"]
    assert seen["channel_list"] == format_channels(tuple(expected))
