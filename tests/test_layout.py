"""The layout keeps its promises: no import cycles, `schema` and `rules` free of the frameworks.

Imports are read from the source with `ast` (those inside functions too), so a cycle hidden behind
a lazy import counts. What a package pulls in at run time is checked by importing it in a fresh
interpreter and looking at `sys.modules`.
"""

import ast
import graphlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parent.parent
NOT_CODE = {"tests", "build"}


def modules(root: Path) -> dict[str, Path]:
    """The project's modules by dotted name: top-level .py files and packages, not the tests."""
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if (
            parts[0] in NOT_CODE
            or parts[0].startswith(".")
            or (len(parts) > 1 and not (root / parts[0] / "__init__.py").exists())
        ):
            continue
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = path
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the project modules it imports. `from pkg import sub` names the submodule, not pkg."""
    mods = modules(root)
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module for a in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in mods and t != name}
    return graph


def packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    tops: dict[str, set[str]] = defaultdict(set)
    for name, targets in graph.items():
        top = name.split(".")[0]
        tops[top] |= {t.split(".")[0] for t in targets} - {top}
    return tops


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return err.args[1]
    return None


def test_no_import_cycle_between_top_level_packages_or_modules():
    graph = import_graph(ROOT)
    assert {"workflows.claim", "service.claims", "api.app", "worker", "up", "starter"} <= graph.keys()
    assert cycle(packages(graph)) is None, f"packages import each other: {' -> '.join(cycle(packages(graph)))}"
    assert cycle(graph) is None, f"modules import each other: {' -> '.join(cycle(graph))}"


def test_the_cycle_check_finds_a_cycle_behind_a_lazy_import(tmp_path):
    (tmp_path / "worker.py").write_text("def main():\n    from stack.runtime import run\n")
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "__init__.py").write_text("")
    (tmp_path / "stack" / "runtime.py").write_text("from worker import main\n")
    graph = import_graph(tmp_path)
    assert cycle(graph) is not None and cycle(packages(graph)) is not None


def loaded_after_importing(package: str) -> set[str]:
    """Top-level modules in sys.modules after importing every module of `package` in a fresh interpreter.

    Alembic's migration scripts are not importable modules; alembic runs them.
    """
    names = sorted(n for n in modules(ROOT) if (n == package or n.startswith(f"{package}.")) and ".migrations" not in n)
    script = "import sys\n" + "".join(f"import {n}\n" for n in names) + "print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_schema_imports_neither_temporalio_nor_fastapi():
    loaded = loaded_after_importing("schema")
    assert "pydantic" in loaded and "schema" in loaded
    assert not loaded & {"temporalio", "fastapi", "starlette"}, loaded & {"temporalio", "fastapi", "starlette"}


def test_the_rules_import_neither_temporalio_sqlalchemy_nor_fastapi():
    loaded = loaded_after_importing("rules")
    assert {"rules", "schema"} <= loaded
    frameworks = {"temporalio", "sqlalchemy", "fastapi", "starlette", "alembic", "stripe", "httpx"}
    assert not loaded & frameworks, loaded & frameworks


def test_only_the_server_imports_the_api():
    """The drill, the demo seed and the command line call the service layer, never the HTTP API's code;
    the web app shares only its mapping of refusals to statuses."""
    graph = import_graph(ROOT)
    importers = {name for name, targets in graph.items() if any(t.split(".")[0] == "api" for t in targets)}
    outside = {n for n in importers if not n.startswith("api")}
    assert {n for n in outside if not n.startswith("web.")} == {"up"}
    web_uses = {t for n in outside if n.startswith("web.") for t in graph[n] if t.split(".")[0] == "api"}
    assert web_uses == {"api.errors"}, web_uses
