"""The layout tells the architecture, and stays so (checked on the source, without importing it):

- every part of featviz_core (a top-level module or a package) says in its docstring which parts it may
  import and whether it imports torch at module level (``Layer (checked by tests/test_layout.py): may import
  a, b; torch at module level: no.``); its imports, inside functions and under TYPE_CHECKING too, stay within
  that, and that table has no cycle;
- no import cycle between modules, counting every import: at module level, inside functions, under
  TYPE_CHECKING, and the package ``__init__`` that importing a submodule runs;
- streamlit is imported by featviz_ui, pages/ and app.py only; featviz_ui by pages/ and app.py only; the
  render service only by the parts that declare it;
- what the app imports at start (featviz_ui at module level, featviz_core.links and .settings) reaches no
  module that imports torch at module level;
- featviz_core/ holds at most ten modules beside its packages; every package declares ``__all__``; no module is
  an alias of another or passes on names it does not use;
- no function in featviz_core/, featviz_ui/ or pages/ is longer than 60 lines.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = re.compile(r"Layer \(checked by tests/test_layout\.py\): may import (?P<parts>.+?); torch at module level: "
                   r"(?P<torch>yes|no)\.", re.S)
MAX_TOP_LEVEL_MODULES = 10
MAX_FUNCTION_LINES = 60
ROOT_PACKAGE = "featviz_core"  # its __init__ holds the version and the error types: every part may import it


@dataclass
class Import:
    target: str  # the featviz module (or "torch", "streamlit") it names
    function: bool  # inside a function: runs when the function does
    type_checking: bool  # under ``if TYPE_CHECKING``: never runs
    line: int


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: list[Import] = field(default_factory=list)

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Module]:
    paths = [*ROOT.joinpath("featviz_core").rglob("*.py"), *ROOT.joinpath("featviz_ui").rglob("*.py"),
             *ROOT.joinpath("pages").glob("*.py"), ROOT / "app.py"]
    found = {}
    for path in sorted(paths):
        module = Module(_module_name(path), path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found[module.name] = module
    for module in found.values():
        module.imports = list(_imports(module, found))
    return found


def _resolve(name: str, known: dict[str, Module]) -> str | None:
    """The featviz module ``name`` names (its longest known prefix), "torch", "streamlit", or None."""
    top = name.split(".")[0]
    if top in ("torch", "streamlit"):
        return top
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: Module, known: dict[str, Module]):
    def visit(node: ast.AST, function: bool, type_checking: bool):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            function = True
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                yield from visit(child, function, True)
            for child in node.orelse:
                yield from visit(child, function, type_checking)
            return
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
        for name in names:
            target = _resolve(name, known)
            if target is not None and target != module.name:
                yield Import(target, function, type_checking, node.lineno)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, function, type_checking)

    yield from visit(module.tree, False, False)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def edges(module: Module, *, at_import_only: bool = False) -> set[str]:
    """Modules that importing (or running) ``module`` imports: each target and the package __init__ files its
    import runs (those of packages ``module`` is not itself inside)."""
    known = modules()
    out = set()
    for imp in module.imports:
        if imp.target not in known or (at_import_only and (imp.function or imp.type_checking)):
            continue
        out.add(imp.target)
        mine = set(_ancestors(module.name)) | ({module.name} if module.is_package else set())
        out |= {a for a in _ancestors(imp.target) if a in known and a not in mine}
    out.discard(module.name)
    return out


# ----- the parts of featviz_core and their declared layers ---------------------------------------------------
def part_of(name: str) -> str:
    """featviz_core.render.loop -> "render"; featviz_core.words -> "words"; featviz_core -> the root package."""
    parts = name.split(".")
    if parts[0] != "featviz_core":
        return parts[0]
    return parts[1] if len(parts) > 1 else ROOT_PACKAGE


@cache
def declared() -> dict[str, tuple[frozenset[str], bool]]:
    """Part -> (parts it may import, whether it imports torch at module level), from its docstring."""
    table = {}
    for module in modules().values():
        if not module.name.startswith("featviz_core") or module.name.count(".") > 1:
            continue  # a top-level module or a package's __init__ declares its part
        match = LAYER.search(" ".join((ast.get_docstring(module.tree) or "").split()))
        if match is None:
            table[part_of(module.name)] = None
            continue
        words = match["parts"]
        parts = frozenset() if words == "nothing" else frozenset(p.strip() for p in words.split(","))
        table[part_of(module.name)] = (parts, match["torch"] == "yes")
    return table


def test_every_part_of_featviz_core_declares_its_layer():
    table = declared()
    missing = sorted(part for part, layer in table.items() if layer is None)
    assert not missing, f"docstrings without a 'Layer (checked by tests/test_layout.py): ...' line: {missing}"
    unknown = {part: sorted(layer[0] - set(table)) for part, layer in table.items() if layer[0] - set(table)}
    assert not unknown, f"layers naming parts that do not exist: {unknown}"


def test_the_declared_layers_have_no_cycle():
    table = {part: layer[0] for part, layer in declared().items() if layer}
    order, left = [], dict(table)
    while left:
        ready = sorted(part for part, needs in left.items() if needs <= set(order))
        assert ready, f"the declared layers form a cycle among {sorted(left)}"
        order += ready
        for part in ready:
            del left[part]


def test_every_import_stays_within_the_declared_layers():
    table = declared()
    wrong = []
    for module in modules().values():
        if not module.name.startswith("featviz_core"):
            continue
        part = part_of(module.name)
        allowed = table[part][0] | {part, ROOT_PACKAGE}
        for imp in module.imports:
            if imp.target in ("torch", "streamlit"):
                continue
            if not imp.target.startswith("featviz_core"):
                wrong.append(f"{module.path.relative_to(ROOT)}:{imp.line} imports {imp.target} (the UI or a page)")
            elif part_of(imp.target) not in allowed:
                wrong.append(f"{module.path.relative_to(ROOT)}:{imp.line} imports {imp.target}, but {part} may "
                             f"import only {', '.join(sorted(table[part][0])) or 'nothing'}")
    assert not wrong, "\n".join(wrong)


def test_torch_at_module_level_only_where_declared():
    table = declared()
    wrong = []
    for module in modules().values():
        may = module.name.startswith("featviz_core") and table[part_of(module.name)][1]
        for imp in module.imports:
            if imp.target == "torch" and not (imp.function or imp.type_checking) and not may:
                wrong.append(f"{module.path.relative_to(ROOT)}:{imp.line}")
    assert not wrong, f"torch imported at module level where the layer says no: {wrong}"


def test_streamlit_the_ui_and_the_service_are_imported_only_from_above():
    wrong = []
    for module in modules().values():
        where = f"{module.path.relative_to(ROOT)}"
        for imp in module.imports:
            if imp.target == "streamlit" and module.name.startswith("featviz_core"):
                wrong.append(f"{where}:{imp.line} imports streamlit (only featviz_ui, pages and app.py may)")
            if imp.target.startswith("featviz_ui") and not module.name.startswith(("pages", "app", "featviz_ui")):
                wrong.append(f"{where}:{imp.line} imports the UI (only pages and app.py may)")
            if imp.target.startswith("pages") and not module.name.startswith(("pages", "app")):
                wrong.append(f"{where}:{imp.line} imports a page")
    assert not wrong, "\n".join(wrong)
    users = sorted(part for part, layer in declared().items() if layer and "service" in layer[0])
    assert users == ["cli"], f"only the command line may use the render service in featviz_core, not {users}"


def test_no_import_cycle_of_any_kind():
    graph = {name: edges(module) for name, module in modules().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles (every import counts, inside functions and under TYPE_CHECKING too): {cycles}"


def test_what_the_app_imports_at_start_needs_no_torch():
    known = modules()
    start = [name for name in known if name.startswith("featviz_ui") or name == "app"]
    start += ["featviz_core.links", "featviz_core.settings"]
    seen, todo, came_from = set(), list(start), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for other in edges(known[name], at_import_only=True):
            came_from.setdefault(other, name)
            todo.append(other)
    heavy = sorted(name for name in seen
                   if any(i.target == "torch" and not (i.function or i.type_checking) for i in known[name].imports))

    def chain(name: str) -> str:
        path = [name]
        while path[-1] in came_from and path[-1] not in start:
            path.append(came_from[path[-1]])
        return " <- ".join(path)

    assert not heavy, "imported at start but imports torch: " + "; ".join(chain(name) for name in heavy)


def test_featviz_core_holds_few_modules_beside_its_packages():
    top = sorted(p.name for p in ROOT.joinpath("featviz_core").glob("*.py") if p.name not in ("__init__.py",
                                                                                             "__main__.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules outside featviz_core's packages: {top}"


def test_every_package_declares_its_public_names():
    wrong = []
    for module in modules().values():
        if not module.is_package:
            continue
        names = next((node.value for node in module.tree.body if isinstance(node, ast.Assign)
                      and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)), None)
        if names is None:
            wrong.append(f"{module.name} has no __all__")
            continue
        bound = {alias.asname or alias.name for node in module.tree.body if isinstance(node, ast.ImportFrom)
                 for alias in node.names}
        bound |= {t.id for node in module.tree.body if isinstance(node, ast.Assign) for t in node.targets
                  if isinstance(t, ast.Name)}
        bound |= {node.name for node in module.tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
        for name in ast.literal_eval(names):
            if name not in bound and f"{module.name}.{name}" not in modules():
                wrong.append(f"{module.name}.__all__ names {name}, which it neither defines nor holds as a module")
    assert not wrong, "\n".join(wrong)


def test_no_alias_modules_and_no_names_passed_on_unused():
    wrong = []
    for module in modules().values():
        if module.is_package or module.path.name == "__main__.py" or not module.name.startswith(("featviz_core",
                                                                                                "featviz_ui")):
            continue
        defines = [node for node in module.tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                         ast.ClassDef, ast.Assign, ast.AnnAssign))
                   and not (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__")]
        if not defines:
            wrong.append(f"{module.name} only imports: an alias of another module")
        used = {node.id for node in ast.walk(module.tree) if isinstance(node, ast.Name)}
        used |= {text for node in ast.walk(module.tree) if isinstance(node, ast.Constant)
                 and isinstance(node.value, str) for text in re.findall(r"\w+", node.value)}
        for node in module.tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("featviz_core", "featviz_ui")):
                for alias in node.names:
                    if (alias.asname or alias.name) not in used:
                        wrong.append(f"{module.name} imports {alias.name} from {node.module} but never uses it "
                                     "(a re-export: import it from where it is defined)")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("folder", ["featviz_core", "featviz_ui", "pages"])
def test_no_function_is_longer_than_60_lines(folder):
    long = []
    for module in modules().values():
        if module.path.relative_to(ROOT).parts[0] != folder:
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module.path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
