"""The Docker build context and the Space files are complete and agree with the deployment guide (docs/deployment.md).

``docker build`` cannot run on the test machines, so these tests read the Dockerfile and .dockerignore the way
Docker does: every COPY source exists and is not ignored, every file the app imports reaches the image, the
commands the build runs are valid, the container runs as uid 1000 with the documented command.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]


# ----- reading the Dockerfile and .dockerignore like Docker ----------------------------------------------
def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    result, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return result


def parsed() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def copy_sources(arguments: str) -> tuple[list[str], list[str], str]:
    """(flags, sources, destination) of a COPY/ADD in shell or JSON form."""
    if arguments.startswith("["):
        parts = json.loads(arguments)
        flags: list[str] = []
    else:
        words = shlex.split(arguments)
        flags = [w for w in words if w.startswith("--")]
        parts = [w for w in words if not w.startswith("--")]
    return flags, parts[:-1], parts[-1]


def ignore_rules() -> list[tuple[bool, re.Pattern]]:
    """(is_exception, regex) per .dockerignore line, in order (Docker's patternmatcher rules)."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line[1:].strip() if exception else line
        pattern = pattern.strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((exception, re.compile(regex + r"\Z")))
    return rules


def ignored(path: str, rules=None) -> bool:
    """Whether Docker leaves ``path`` (relative, with /) out of the context: the last matching rule wins,
    and a rule matching a parent folder matches everything inside it."""
    rules = ignore_rules() if rules is None else rules
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for exception, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not exception
    return verdict


def project_files() -> list[str]:
    """Files a clone of the repository has (tracked, plus new files not ignored by git)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return sorted(p for p in out.splitlines() if (ROOT / p).is_file())


def context_files() -> set[str]:
    rules = ignore_rules()
    return {p for p in project_files() if not ignored(p, rules)}


def test_the_ignore_matcher_follows_dockers_rules():
    rules = [(False, re.compile(r"tests\Z")), (False, re.compile(r"(?:.*/)?__pycache__\Z")),
             (False, re.compile(r"[^/]*\.md\Z")), (True, re.compile(r"README\.md\Z"))]
    assert ignored("tests/service/test_x.py", rules)
    assert ignored("featviz_core/__pycache__/a.pyc", rules) and ignored("__pycache__/b.pyc", rules)
    assert ignored("NOTES.md", rules) and not ignored("README.md", rules)
    assert not ignored("docs/NOTES.md", rules)  # '*' does not cross folders
    assert not ignored("featviz_core/tests.py", rules)


# ----- the context ---------------------------------------------------------------------------------------
def test_every_copy_source_exists_and_is_not_ignored():
    copies = [(k, a) for k, a in parsed() if k in ("COPY", "ADD")]
    assert copies, "the Dockerfile copies nothing"
    context = context_files()
    for keyword, arguments in copies:
        flags, sources, _ = copy_sources(arguments)
        assert not any(f.startswith("--from") for f in flags)
        assert "--chown=user" in flags, f"{keyword} {arguments}: files must belong to uid 1000"
        for source in sources:
            assert not source.startswith(("http://", "https://", "/", "..")), source
            if source == ".":
                continue
            path = ROOT / source
            assert path.exists(), f"{keyword} {arguments}: {source} does not exist"
            inside = [p for p in context if p == source or p.startswith(source.rstrip("/") + "/")]
            assert inside, f"{keyword} {arguments}: {source} is excluded by .dockerignore"


def imported_project_modules(start: list[Path]) -> set[str]:
    """Project files reachable by imports from ``start`` (``featviz_core.x`` -> featviz_core/x.py ...)."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        rel = path.relative_to(ROOT).as_posix()
        if rel in seen:
            continue
        seen.add(rel)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                base = ROOT / Path(*name.split("."))
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.is_file():
                        todo.append(candidate)
        if path.name != "__init__.py":  # a module's package runs its __init__ first
            for parent in path.relative_to(ROOT).parents:
                init = ROOT / parent / "__init__.py"
                if parent != Path(".") and init.is_file():
                    todo.append(init)
    return seen


def test_everything_the_app_runs_reaches_the_image():
    context = context_files()
    app = ROOT / "app.py"
    assert app.is_file(), "app.py is the Space's entry point"
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert ROOT / "pages" / "photo.py" in pages
    needed = imported_project_modules([app, *pages]) | {"requirements.txt", ".streamlit/config.toml"}
    assert "featviz_core/service/__init__.py" in needed or "featviz_core/render.py" in needed
    missing = sorted(needed - context)
    assert not missing, f"not in the Docker build context: {missing}"
    # The whole library goes in (CLI and fetch-weights run at build time), test tools do not.
    assert {p for p in project_files() if p.startswith("featviz_core/") and p.endswith(".py")} <= context
    for left_out in ("tests/conftest.py", "scripts/test.sh", ".venv/bin/python", ".git/HEAD", "bench/x.py"):
        assert ignored(left_out), f"{left_out} should not be sent to the Docker build"


def test_requirements_of_the_image_are_runtime_only():
    text = (ROOT / "requirements.txt").read_text()
    for tool in ("pytest", "playwright"):
        assert not re.search(rf"^{tool}\b", text, re.M), f"{tool} is a test tool, not a runtime dependency"


# ----- what the build runs -------------------------------------------------------------------------------
def run_commands() -> list[str]:
    return [arguments for keyword, arguments in parsed() if keyword == "RUN"]


def test_run_steps_are_valid_shell():
    for command in run_commands():
        done = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stderr}"


def torch_step() -> str:
    return next(c for c in run_commands() if "torch-requirements" in c)


def test_torch_comes_from_torch_index_url_alone_and_the_rest_from_pips_default_index():
    arguments = dict(re.findall(r"(\w+)=(\S*)", " ".join(a for k, a in parsed() if k == "ARG")))
    assert arguments["TORCH_INDEX_URL"] == '""'  # no index host named: pip's own default unless one is given
    step = torch_step()
    pattern = re.search(r"grep -E '([^']+)' requirements.txt", step).group(1)
    picked = subprocess.run(["grep", "-E", pattern, "requirements.txt"], cwd=ROOT, capture_output=True,
                            text=True).stdout.splitlines()
    assert [re.split(r"[<>=!~ ]", line)[0] for line in picked] == ["torch", "torchvision"], picked
    assert "--extra-index-url" not in step and step.count("--index-url") == 1


@pytest.mark.parametrize("index", ["", "http://127.0.0.1:9/simple"])
def test_the_install_step_asks_pip_for_exactly_that(tmp_path, index):
    """Run the Dockerfile's own install step with a ``pip`` on PATH that only records how it was called."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pip").write_text('#!/bin/sh\necho "$*" >> "$PIP_CALLS"\n')
    (tmp_path / "bin" / "pip").chmod(0o755)
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    step = torch_step().replace("/tmp/", f"{tmp_path}/")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "PIP_CALLS": str(tmp_path / "calls"), "TORCH_INDEX_URL": index}
    subprocess.run(["sh", "-c", step], cwd=tmp_path, env=env, check=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    final = "install --user -r requirements.txt"
    if index:
        assert calls == [f"install --user --index-url {index} -r {tmp_path}/torch-requirements.txt", final]
        torch_lines = (tmp_path / "torch-requirements.txt").read_text().splitlines()
        assert [line.split(">")[0].split("=")[0].split("<")[0] for line in torch_lines] == ["torch", "torchvision"]
    else:
        assert calls == [final]


# Hosts of package indexes, written so that this file does not contain them itself.
REGISTRY_HOSTS = ["download" + ".pytorch.org", "pypi" + ".org", "files" + ".pythonhosted.org",
                  "pypi" + ".python.org", "conda" + ".anaconda.org", "repo" + ".anaconda.com"]


def test_no_package_index_host_is_named_in_the_dockerfile_or_the_repository():
    text = DOCKERFILE.read_text()
    url_hosts = set(re.findall(r"://([^/\s:'\"]+)", text))
    assert url_hosts <= {"localhost", "127.0.0.1"}, f"the Dockerfile names URLs of {url_hosts - {'localhost', '127.0.0.1'}}"
    hosts = re.findall(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:org|com|net|io|dev|ai|co|cloud)\b", text, re.I)
    assert not hosts, f"the Dockerfile names hosts: {hosts}"
    for path in project_files():
        if (ROOT / path).suffix in {".png", ".jpg", ".pth", ".whl"}:
            continue
        content = (ROOT / path).read_text(errors="ignore").lower()
        named = [host for host in REGISTRY_HOSTS if host in content]
        assert not named, f"{path} names a package index: {named}"


def test_weight_fetches_are_valid_cli_calls_and_inceptionv1_can_be_switched_off():
    from featviz_core.cli.dispatch import _parser

    calls = [shlex.split(m) for c in run_commands() for m in re.findall(r"python -m featviz_core ([^;&|]+)", c)]
    parsed_calls = [_parser().parse_args(argv) for argv in calls]
    models = [args.model for args in parsed_calls if args.command == "fetch-weights"]
    assert sorted(models) == ["efficientnet-lite0", "inceptionv1"]
    assert [args.command for args in parsed_calls if args.command != "fetch-weights"] == ["atlas", "warm"]
    fetch = next(c for c in run_commands() if "--model inceptionv1" in c)
    assert fetch.startswith('if [ "$FETCH_INCEPTIONV1" = "1" ]; then')
    arguments = " ".join(a for k, a in parsed() if k == "ARG")
    for name, default in (("FETCH_INCEPTIONV1", "1"), ("FEATVIZ_INCEPTIONV1_SHA256", '""'),
                          ("FEATVIZ_INCEPTIONV1_URL", '""'), ("WARM_LINKS", '""')):
        assert f"{name}={default}" in arguments
    env = " ".join(a for k, a in parsed() if k == "ENV")
    assert "FEATVIZ_INCEPTIONV1_SHA256=$FEATVIZ_INCEPTIONV1_SHA256" in env  # checked again at run time
    # Prepared renders are optional: without WARM_LINKS the build renders nothing.
    warm = next(c for c in run_commands() if "featviz_core warm" in c)
    assert warm.startswith('if [ -n "$WARM_LINKS" ]; then')
    steps = parsed()
    assert steps.index(("RUN", warm)) > steps.index(("COPY", "--chown=user . .")), "the links files are copied first"


def test_streamlit_settings_of_the_image():
    env = " ".join(a for k, a in parsed() if k == "ENV")
    # A full garbage collection after every script run (fragment reruns included) made each idle tab cost
    # ~10% of a CPU core on the server; the load test runs the server with the image's setting.
    assert "STREAMLIT_RUNNER_POST_SCRIPT_GC=false" in env
    assert "STREAMLIT_SERVER_HEADLESS=true" in env and "STREAMLIT_SERVER_FILE_WATCHER_TYPE=none" in env
    helpers = (ROOT / "tests" / "service" / "server_helpers.py").read_text()
    assert '"STREAMLIT_RUNNER_POST_SCRIPT_GC": "false"' in helpers


def test_runs_as_uid_1000():
    steps = parsed()
    users = [a for k, a in steps if k == "USER"]
    assert users and users[-1] == "user"
    assert any(k == "RUN" and re.search(r"useradd .*--uid 1000 user", a) for k, a in steps)
    first_user = next(i for i, (k, _) in enumerate(steps) if k == "USER")
    assert all(k not in ("COPY", "ADD", "RUN") or "useradd" in a for k, a in steps[:first_user])


def test_entrypoint_is_the_documented_command_and_port():
    steps = parsed()
    cmd = [a for k, a in steps if k == "CMD"]
    assert len(cmd) == 1 and json.loads(cmd[0]) == ENTRYPOINT
    assert not [a for k, a in steps if k == "ENTRYPOINT"]
    assert [a for k, a in steps if k == "EXPOSE"] == ["8501"]
    readme = (ROOT / "docs" / "deployment.md").read_text()
    section = readme[readme.index("<!-- deploy:start -->"):readme.index("<!-- deploy:end -->")]
    assert " ".join(ENTRYPOINT) in section
    assert "## Deploy to Hugging Face Spaces" in section and "## Run the Docker image locally" in section


# ----- the Space's README and the settings table ---------------------------------------------------------
def front_matter(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "---", "the front matter must open the file"
    end = lines.index("---", 1)
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines[1:end])}


def test_space_front_matter():
    meta = front_matter(ROOT / "deploy" / "space" / "README.md")
    assert meta["sdk"] == "docker"
    assert meta["app_port"] == "8501" == ENTRYPOINT[ENTRYPOINT.index("--server.port") + 1]
    assert meta["title"] and meta["emoji"] and len(meta["emoji"]) <= 2
    assert 0 < len(meta["short_description"]) <= 60
    colors = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert meta["colorFrom"] in colors and meta["colorTo"] in colors


def test_readme_table_lists_every_setting_with_its_default():
    names = set()
    for folder in ("featviz_core", "featviz_ui", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"FEATVIZ_[A-Z0-9_]+", path.read_text()))
    names |= set(re.findall(r"FEATVIZ_[A-Z0-9_]+", (ROOT / "app.py").read_text()))
    readme = (ROOT / "docs" / "deployment.md").read_text()
    section = readme[readme.index("<!-- deploy:start -->"):readme.index("<!-- deploy:end -->")]
    rows = [line for line in section.splitlines() if line.startswith("| `FEATVIZ_")]
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name in re.findall(r"FEATVIZ_[A-Z0-9_]+", cells[0]):
            documented[name] = cells[1]
    missing = sorted(names - set(documented))
    assert not missing, f"settings missing from the table of docs/deployment.md: {missing}"
    assert all(documented[name] for name in names), "every setting needs a default"
    # The defaults in the table are the ones the code uses.
    from featviz_core.config import Limits

    assert documented["FEATVIZ_MAX_STEPS"] == str(Limits.max_steps)
    assert documented["FEATVIZ_MAX_CHANNELS"] == str(Limits.max_channels)
    assert documented["FEATVIZ_MIN_SIZE"] == f"{Limits.min_size} / {Limits.max_size}"


def test_defaults_in_the_table_match_the_service(monkeypatch):
    from featviz_core.config import ServiceSettings
    from featviz_core.photos.uploads import UploadLimits

    for name in ("FEATVIZ_WORKERS", "FEATVIZ_QUEUE_LENGTH", "FEATVIZ_DEADLINE_S", "FEATVIZ_IDLE_TIMEOUT_S",
                 "FEATVIZ_CACHE_ENTRIES", "FEATVIZ_CACHE_MB", "FEATVIZ_MAX_UPLOAD_MB", "FEATVIZ_MAX_UPLOAD_SIDE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FEATVIZ_DEVICE", "cpu")
    settings = ServiceSettings.from_env()
    assert (settings.workers, settings.queue_length, settings.deadline_s, settings.idle_timeout_s) == (1, 16, 600, 20)
    assert (settings.cache_entries, settings.cache_bytes) == (200, 500 * 1024 * 1024)
    assert UploadLimits.from_env() == UploadLimits(max_bytes=10 * 1024 * 1024, max_side=4096)
    readme = (ROOT / "docs" / "deployment.md").read_text()
    for row in ("| `FEATVIZ_WORKERS` | 1 on CPU, 2 on CUDA |", "| `FEATVIZ_QUEUE_LENGTH` | 16 |",
                "| `FEATVIZ_DEADLINE_S` | 600 |", "| `FEATVIZ_IDLE_TIMEOUT_S` | 20 |",
                "| `FEATVIZ_CACHE_ENTRIES` | 200 |", "| `FEATVIZ_CACHE_MB` | 500 |",
                "| `FEATVIZ_MAX_UPLOAD_MB` | 10 |", "| `FEATVIZ_MAX_UPLOAD_SIDE` | 4096 |"):
        assert row in readme


def test_settings_are_honoured_from_the_environment(monkeypatch, tmp_path):
    from featviz_core.config import Limits, ServiceSettings, cache_dir
    from featviz_core.photos.uploads import UploadLimits
    from featviz_core.service import RenderService
    from featviz_core.service.render_cache import RenderCache

    values = {"FEATVIZ_WORKERS": "3", "FEATVIZ_QUEUE_LENGTH": "5", "FEATVIZ_DEADLINE_S": "7.5",
              "FEATVIZ_IDLE_TIMEOUT_S": "9", "FEATVIZ_CACHE_ENTRIES": "11", "FEATVIZ_CACHE_MB": "2",
              "FEATVIZ_CACHE_DIR": str(tmp_path / "cache"), "FEATVIZ_MAX_STEPS": "64", "FEATVIZ_MIN_SIZE": "20",
              "FEATVIZ_MAX_SIZE": "96", "FEATVIZ_MAX_CHANNELS": "4", "FEATVIZ_MAX_UPLOAD_MB": "1",
              "FEATVIZ_MAX_UPLOAD_SIDE": "100", "FEATVIZ_DEVICE": "cpu"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert cache_dir() == tmp_path / "cache"
    assert Limits.from_env() == Limits(max_steps=64, min_size=20, max_size=96, max_channels=4)
    assert UploadLimits.from_env() == UploadLimits(max_bytes=1024 * 1024, max_side=100)
    service = RenderService()
    try:
        assert (len(service._threads), service.settings.queue_length, service.settings.deadline_s) == (3, 5, 7.5)
        assert service.idle_timeout_s == 9 and service.device.type == "cpu"
        assert isinstance(service.cache, RenderCache)
        assert (service.cache.path, service.cache.max_entries, service.cache.max_bytes) == (
            tmp_path / "cache" / "renders", 11, 2 * 1024 * 1024)
    finally:
        service.shutdown()
    assert ServiceSettings.from_env().cache_path == tmp_path / "cache" / "renders"
    from featviz_core.errors import RequestError
    from featviz_core.request import RenderRequest

    with pytest.raises(RequestError, match="steps must be between 1 and 64"):
        RenderRequest(model="efficientnet-lite0", steps=65)
    with pytest.raises(RequestError, match="at most 4 per render"):
        RenderRequest(model="efficientnet-lite0", channels="0-4", steps=8, size=32)
    with pytest.raises(RequestError, match="between 20 and 96 pixels"):
        RenderRequest(model="efficientnet-lite0", size=128, steps=8)
    assert RenderRequest(model="efficientnet-lite0", channels="0-3", steps=64, size=96).channels == (0, 1, 2, 3)


# ----- assembling the Space ------------------------------------------------------------------------------
def test_assemble_space_builds_the_space_tree(tmp_path):
    dest = tmp_path / "space"
    done = subprocess.run(["bash", "scripts/assemble_space.sh", str(dest)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (dest / "README.md").read_bytes() == (ROOT / "deploy" / "space" / "README.md").read_bytes()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    dropped = ("tests/", "bench/", ".ci/", "scripts/", "deploy/")
    expected = {p for p in tracked if not p.startswith(dropped)} | {"README.md"}
    written = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert written == expected
    # Again into the same folder (a Space clone): its .git stays, stale files go.
    (dest / ".git").mkdir()
    (dest / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (dest / "stale.txt").write_text("old")
    again = subprocess.run(["bash", "scripts/assemble_space.sh", str(dest)], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0 and (dest / ".git" / "HEAD").exists() and not (dest / "stale.txt").exists()


@pytest.mark.parametrize("target", ["repo", "non-empty"])
def test_assemble_space_refuses_dangerous_targets(tmp_path, target):
    if target == "repo":
        dest = ROOT
    else:
        dest = tmp_path / "mine"
        dest.mkdir()
        (dest / "precious.txt").write_text("keep me")
    done = subprocess.run(["bash", "scripts/assemble_space.sh", str(dest)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "refusing" in done.stderr
    assert (ROOT / "featviz_core" / "request.py").exists()
    if target == "non-empty":
        assert (dest / "precious.txt").read_text() == "keep me"


def test_an_atlas_can_be_baked_in_with_its_digest():
    from featviz_core.cli.dispatch import _parser

    arguments = " ".join(a for k, a in parsed() if k == "ARG")
    assert 'FEATVIZ_ATLAS_URL=""' in arguments and 'FEATVIZ_ATLAS_SHA256=""' in arguments
    step = next(c for c in run_commands() if "atlas fetch" in c)
    assert step.startswith('if [ -n "$FEATVIZ_ATLAS_URL" ]; then')
    argv = shlex.split(re.search(r"python -m featviz_core ([^;&|]+)", step).group(1))
    args = _parser().parse_args(argv)
    assert (args.command, args.verb, args.url, args.sha256, args.into) == \
        ("atlas", "fetch", "$FEATVIZ_ATLAS_URL", "$FEATVIZ_ATLAS_SHA256", "/home/user/atlas")
    env = " ".join(a for k, a in parsed() if k == "ENV")
    assert "FEATVIZ_ATLAS_DIR=/home/user/atlas" in env
    # The fetch runs before the app's files are copied in, so editing the app does not download it again.
    keywords = [(k, a) for k, a in parsed()]
    fetch_at = next(i for i, (k, a) in enumerate(keywords) if k == "RUN" and "atlas fetch" in a)
    assert fetch_at < keywords.index(("COPY", "--chown=user . ."))
