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


def test_prefect_lives_only_in_flows_and_the_cli():
    offenders = [str(p.relative_to(REPO)) for p in sources(*LIBRARY_DIRS)
                 if p.name != "cli.py" and any(m == "prefect" or m.startswith("prefect.") for m in imported_modules(p))]
    assert not offenders, f"Prefect imported outside flows/: {offenders}"


def test_nothing_imports_the_cli_roof():
    offenders = [str(p.relative_to(REPO)) for p in sources(*LIBRARY_DIRS, "flows")
                 if "plotline.cli" in imported_modules(p) and p != REPO / "plotline" / "cli.py"]
    assert not offenders, f"modules importing plotline.cli: {offenders}"


def test_library_does_not_import_flows_or_stages():
    offenders = [str(p.relative_to(REPO)) for p in sources("plotline", "data_contracts")
                 if p.name != "cli.py" and any(m.split(".")[0] in ("flows", "stages") for m in imported_modules(p))]
    assert not offenders, f"library modules importing flows/stages (dependency points the wrong way): {offenders}"


@pytest.mark.parametrize("folder", LIBRARY_DIRS + ("flows",))
def test_public_functions_have_docstrings(folder):
    missing = []
    for path in sources(folder):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            items = [node] + ([n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                              if isinstance(node, ast.ClassDef) and not node.name.startswith("_") else [])
            for item in items:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                        and not item.name.startswith("_") and ast.get_docstring(item) is None:
                    missing.append(f"{path.relative_to(REPO)}:{item.lineno} {item.name}")
    assert not missing, "public functions/classes without a docstring:\n" + "\n".join(missing)
