"""The repository stands alone: nothing reads a folder beside it, and odoo-bin runs the same add-on tests as
pytest (every test module is imported by its package's ``__init__``)."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADDONS = [path.parent for path in ROOT.glob("*/__manifest__.py")]
SOURCES = [path for path in ROOT.rglob("*") if path.suffix in (".py", ".sh", ".toml", ".cfg") or path.name in (
    "run", "test", "demo")]


def _project_files():
    for path in SOURCES:
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(ROOT).parts):
            continue
        yield path


# The folder the project's developers get beside the repository, which a clone on its own does not have.
BESIDE = "sha" + "red"


def test_nothing_reads_a_folder_beside_the_repository():
    beside = re.compile(rf"\.\./{BESIDE}|parents\[\d\]\s*/\s*[\"']{BESIDE}|[\"']{BESIDE}/specs")
    offenders = [str(path.relative_to(ROOT)) for path in _project_files()
                 if beside.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert offenders == []


def test_the_specs_the_tests_read_are_in_the_repository():
    for name in ("dotdigital-v2-swagger.json", "campaign-master/facts.json", "README.md"):
        assert (ROOT / "specs" / name).is_file(), name


@pytest.mark.parametrize("addon", ADDONS, ids=[addon.name for addon in ADDONS])
def test_every_test_module_is_imported_for_odoo_bin(addon):
    tests = addon / "tests"
    if not tests.is_dir():
        pytest.skip("no tests")
    imported = set()
    for node in ast.walk(ast.parse((tests / "__init__.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            imported |= {alias.name for alias in node.names}
    modules = {path.stem for path in tests.glob("test_*.py")}
    assert modules - imported == set()


@pytest.mark.parametrize("addon", ADDONS, ids=lambda path: path.name)
def test_every_translatable_text_can_be_extracted(addon):
    """Odoo's .pot export reads ``_()`` calls with Babel, which gives up on a whole file when an argument is
    something it cannot read (an f-string among the keyword arguments): its texts would never be translated."""
    extract = pytest.importorskip("babel.messages.extract")
    unreadable = {}
    for path in addon.rglob("*.py"):
        try:
            with path.open("rb") as source:
                list(extract.extract_python(source, ["_", "_lt"], [], {}))
        except Exception as error:  # noqa: BLE001 (any failure is the finding)
            unreadable[str(path.relative_to(ROOT))] = repr(error)
    assert not unreadable
