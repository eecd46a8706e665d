"""The layering rules of docs/architecture.md, checked on the source.

- ``hdl/`` and ``synth/`` import nothing of ours (``hdl/`` only itself);
- ``generators/`` imports ``hdl/`` only, and names nothing in ``verif/``;
- ``verif/`` imports ``hdl/`` and ``generators/`` (never ``sim/``); a private module is imported
  only inside its own package;
- nothing but tests imports ``sim/``;
- imports sit at module top, in the tests too (``sim/`` may defer an optional library: plotting, Dask);
- no function in ``hdl/`` or ``generators/`` is longer than 150 lines;
- every registered design has a host model and a testbench in ``verif/``.
"""

import ast
import importlib.util
from pathlib import Path

import pytest

from accelgen.generators import all_designs
from accelgen.verif import HostModel, all_plans

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("hdl", "generators", "verif", "sim", "synth")
#: Which of our packages each folder may import.
ALLOWED = {
    "hdl": {"hdl"},
    "synth": {"synth"},
    "generators": {"hdl", "generators"},
    "verif": {"hdl", "generators", "verif"},
    "sim": set(FOLDERS),
}
#: Imports a function may defer, because they are optional and heavy: the Pareto plot, the
#: Dask sweep backend (the extra accelgen[dask]).
DEFERRED_OK = {"matplotlib", "matplotlib.pyplot", "dask", "distributed", "dask_jobqueue"}
MAX_FUNCTION_LINES = 150


def _modules():
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            package = ["accelgen", folder, *path.relative_to(ROOT / folder).parent.parts]
            yield folder, path, package


def _imports(path: Path, package: list[str]):
    """``(node, absolute module name, inside a function)`` for every import of ``path``."""
    tree = ast.parse(path.read_text())
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function |= {id(sub) for sub in ast.walk(node)}
    if path.name == "__init__.py":
        package = package + ["__init__"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, id(node) in in_function
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level] if path.name == "__init__.py" else \
                    package[:len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            yield node, name, id(node) in in_function


def _ours(name: str):
    parts = name.split(".")
    if parts[0] == "accelgen" and len(parts) > 1:
        return parts[1]
    return None


def test_each_folder_imports_only_the_layers_below_it():
    problems = []
    for folder, path, package in _modules():
        for node, name, _ in _imports(path, package):
            layer = _ours(name)
            if layer is not None and layer not in ALLOWED[folder] and layer != "__init__":
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not problems, "\n".join(problems)


def test_private_modules_stay_inside_their_package():
    """A module ``_name`` is imported only by its own package (e.g. ``sim/bench/_common``)."""
    problems = []
    for _, path, package in _modules():
        for node, name, _ in _imports(path, package):
            parts = name.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")]
            if _ours(name) and private and parts[:private[0]] != package:
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} imports the private module {name}")
    assert not problems, "\n".join(problems)


def test_generators_name_nothing_in_verif():
    hits = [f"{path.relative_to(ROOT)}:{number}" for path in sorted((ROOT / "generators").rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1) if "accelgen.verif" in line]
    assert not hits, hits


def test_nothing_but_tests_imports_sim():
    problems = [f"{path.relative_to(ROOT)}:{node.lineno}" for folder, path, package in _modules() if folder != "sim"
                for node, name, _ in _imports(path, package) if _ours(name) == "sim"]
    assert not problems, problems


def test_imports_sit_at_module_top():
    tests = [("tests", path, ["tests"]) for path in sorted((ROOT / "tests").glob("*.py"))]
    problems = [f"{path.relative_to(ROOT)}:{node.lineno} imports {name} inside a function"
                for _, path, package in [*_modules(), *tests] for node, name, local in _imports(path, package)
                if local and name not in DEFERRED_OK]
    assert not problems, "\n".join(problems)


def test_no_long_functions_in_hdl_and_generators():
    problems = []
    for folder in ("hdl", "generators"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        problems.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(all_designs()))
def test_every_design_has_a_host_model_and_a_testbench(name):
    plan = all_plans()[name]
    assert isinstance(plan.host, HostModel)
    assert name in plan.host.VERIFIES
    assert importlib.util.find_spec(plan.testbench) is not None, plan.testbench
