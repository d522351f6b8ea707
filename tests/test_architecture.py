"""Layering and documentation rules of DESIGN §1 and the style guide, checked on the source tree."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY_DIRS = ("plotline", "stages", "data_contracts")


def sources(*dirs):
    for d in dirs:
        yield from sorted((REPO / d).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


ROOF = REPO / "plotline" / "cli"


def in_roof(path: Path) -> bool:
    """Whether a source file belongs to the CLI roof package (plotline/cli/)."""
    return ROOF in path.parents


def test_prefect_lives_only_in_flows_and_the_cli():
    offenders = [
        str(p.relative_to(REPO))
        for p in sources(*LIBRARY_DIRS)
        if not in_roof(p) and any(m == "prefect" or m.startswith("prefect.") for m in imported_modules(p))
    ]
    assert not offenders, f"Prefect imported outside flows/ and the CLI roof: {offenders}"


def test_nothing_imports_the_cli_roof():
    offenders = [
        str(p.relative_to(REPO))
        for p in sources(*LIBRARY_DIRS, "flows")
        if not in_roof(p) and any(m == "plotline.cli" or m.startswith("plotline.cli.") for m in imported_modules(p))
    ]
    assert not offenders, f"modules importing the CLI roof plotline.cli: {offenders}"


def test_library_does_not_import_flows_or_stages():
    offenders = [
        str(p.relative_to(REPO))
        for p in sources("plotline", "data_contracts")
        if not in_roof(p) and any(m.split(".")[0] in ("flows", "stages") for m in imported_modules(p))
    ]
    assert not offenders, f"library modules importing flows/stages (dependency points the wrong way): {offenders}"


def test_every_command_lives_under_the_roof():
    stray = [
        str(p.relative_to(REPO))
        for p in sources(*LIBRARY_DIRS)
        if not in_roof(p) and ("typer" in imported_modules(p) or p.stem.endswith("cli"))
    ]
    assert not stray, f"command-line code outside plotline/cli/: {stray}"


def _package_of(path: Path) -> str:
    rel = path.relative_to(REPO / "plotline")
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else "(top)"


def _package_graph() -> dict[str, set[str]]:
    """plotline's subpackages and the subpackages each imports (module-level and lazy imports alike)."""
    graph: dict[str, set[str]] = {}
    for path in sources("plotline"):
        pkg = _package_of(path)
        if pkg in ("(top)", "cli"):
            continue
        deps = graph.setdefault(pkg, set())
        for mod in imported_modules(path):
            parts = mod.split(".")
            if (
                parts[0] == "plotline"
                and len(parts) > 1
                and (REPO / "plotline" / parts[1]).is_dir()
                and parts[1] not in (pkg, "cli")
            ):
                deps.add(parts[1])
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by depth-first search, each as the list of packages on it."""
    found, seen = [], set()

    def visit(node, stack):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycle = stack[stack.index(nxt) :]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle + [nxt])
            elif len(stack) < len(graph):
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_package_cycle_inside_plotline():
    cycles = _cycles(_package_graph())
    assert not cycles, "package cycles inside plotline/: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("folder", LIBRARY_DIRS + ("flows",))
def test_public_functions_have_docstrings(folder):
    missing = []
    for path in sources(folder):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            items = [node] + (
                [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
                else []
            )
            for item in items:
                if (
                    isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and not item.name.startswith("_")
                    and ast.get_docstring(item) is None
                ):
                    missing.append(f"{path.relative_to(REPO)}:{item.lineno} {item.name}")
    assert not missing, "public functions/classes without a docstring:\n" + "\n".join(missing)
