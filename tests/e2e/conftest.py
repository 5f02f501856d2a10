"""Real-browser fixtures: the app served by `streamlit run` on a free localhost port with its own cache
folder, and Debian's chromium driven by playwright. Screenshots go to test-output/e2e/ (git-ignored)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from e2e_helpers import OUTPUT, ROOT
from local_servers import CHROMIUM, CHROMIUM_ARGS, free_port


def _streamlit_command() -> list[str]:
    venv = ROOT / ".venv" / "bin" / "streamlit"
    return [str(venv)] if venv.exists() else [sys.executable, "-m", "streamlit"]


@contextlib.contextmanager
def app_server(workdir: Path, **settings: str):
    """Serve app.py with ``streamlit run`` on a free localhost port (cache and log under ``workdir``,
    extra environment ``settings``); yields the base URL once ``/_stcore/health`` answers, and stops the
    server afterwards."""
    port = free_port()
    cache = workdir / "cache"
    log_path = workdir / "server.log"
    env = {**os.environ, "FEATVIZ_CACHE_DIR": str(cache), "FEATVIZ_DEVICE": "cpu", **settings}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _streamlit_command() + ["run", "app.py", "--server.port", str(port), "--server.headless", "true",
                                    "--server.address", "localhost"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://localhost:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app server did not start; its log:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Base URL of an app server shared by a test module (its first render pays the model's warm-up once)."""
    with app_server(tmp_path_factory.mktemp("featviz-e2e")) as base:
        yield base


LECTURE_DECK = ("?model=efficientnet-lite0&layer=_blocks.10&channels=0-1&steps=2&size=32&seed=4301  # two\n"
                "?model=efficientnet-lite0&layer=_blocks.10&channels=5&steps=2&size=48&seed=4301\n")


@pytest.fixture(scope="module")
def lecture_server(tmp_path_factory):
    """An app server with a deck `lecture` whose renders were prepared by `warm` into its cache."""
    from featviz_core.cli.dispatch import main

    workdir = tmp_path_factory.mktemp("featviz-lecture")
    decks = workdir / "decks"
    decks.mkdir()
    (decks / "lecture.txt").write_text(LECTURE_DECK)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEATVIZ_CACHE_DIR", str(workdir / "cache"))  # the server's cache (see app_server)
        assert main(["warm", str(decks / "lecture.txt"), "--quiet"]) == 0
    with app_server(workdir, FEATVIZ_DECKS_DIR=str(decks)) as base:
        yield base


@pytest.fixture
def fresh_server(tmp_path):
    """Base URL of an app server nobody has visited yet."""
    with app_server(tmp_path) as base:
        yield base


@pytest.fixture
def start_server(tmp_path):
    """``start_server(name, **settings)``: a context manager serving a fresh app (its own cache and log in
    ``tmp_path / name``) with extra environment ``settings``; yields (base URL, server log path)."""

    @contextlib.contextmanager
    def start(name: str, **settings: str):
        workdir = tmp_path / name
        workdir.mkdir()
        with app_server(workdir, **settings) as base:
            yield base, workdir / "server.log"

    return start


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser):
    """Factory of pages, each in its own browser context (its own app session, like another person)."""
    contexts = []

    def make(width: int = 1400, height: int = 1600):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shots(request):
    """Save a screenshot as test-output/e2e/<test name>-<name>.png."""
    OUTPUT.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = OUTPUT / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture(scope="module")
def atlas_server(tmp_path_factory, atlas_dir):
    """An app server whose FEATVIZ_ATLAS_DIR is ``atlas_dir`` (a fixture of the requesting test module)."""
    with app_server(tmp_path_factory.mktemp("featviz-e2e-atlas"), FEATVIZ_ATLAS_DIR=str(atlas_dir)) as base:
        yield base


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory, atlas_dir, examples_dir):
    """An app server reading atlases from ``atlas_dir`` and examples stores from ``examples_dir`` (fixtures of
    the requesting test module); yields (base URL, server log path)."""
    workdir = tmp_path_factory.mktemp("featviz-e2e-examples")
    with app_server(workdir, FEATVIZ_ATLAS_DIR=str(atlas_dir), FEATVIZ_EXAMPLES_DIR=str(examples_dir)) as base:
        yield base, workdir / "server.log"
