"""The code's layout as a contract: files that datasets 3.6 copies as one loading script, machinery that knows
nothing of MMSci, tools that use public names, commands that register themselves, files and functions of a size a
reader can hold."""

import ast
import re

import pytest
import tomllib

import scifig
from scifig_tools.__main__ import parser
from scifig_tools.commands import COMMANDS

from helpers import BUILDER_FILES, ROOT

SIBLINGS = [name[:-3] for name in BUILDER_FILES if name.endswith(".py") and name != "scifig.py"]
MMSCI_SIDE = {"scifig_data", "scifig_rows", "scifig_sources"}  # what knows MMSci, besides scifig.py
PRODUCT = [ROOT / "scifig.py", *(ROOT / f"{name}.py" for name in SIBLINGS), *sorted(
    (ROOT / "scifig_tools").rglob("*.py"))]


def _relative_imports(path):
    return {node.module for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.level == 1}


def test_the_script_imports_every_sibling_as_datasets_3_6_finds_them():
    # datasets.load.get_imports (3.6) reads `from .<module> import ...` at column 0, taking anything after a `#` on
    # the line for the URL to fetch the module from
    found = set()
    for line in (ROOT / "scifig.py").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^from\s+\.([^\s.]+)\s+import\s+([^#\r\n]*)(#.*)?$", line)
        if match:
            assert match[3] is None, f"a comment after `{line}` would be read as the module's URL"
            found.add(match[1])
    assert found == set(SIBLINGS) and len(SIBLINGS) >= 8


def test_the_wheel_carries_every_sibling_beside_the_builder():
    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "force-include"]
    assert {f"{name}.py": f"scifig/{name}.py" for name in SIBLINGS}.items() <= included.items()


@pytest.mark.parametrize("sibling", SIBLINGS)
def test_machinery_knows_nothing_of_mmsci_and_no_sibling_imports_the_builder(sibling):
    imported = _relative_imports(ROOT / f"{sibling}.py")
    assert "scifig" not in imported
    if sibling not in MMSCI_SIDE:
        assert not imported & MMSCI_SIDE, f"{sibling} imports {imported & MMSCI_SIDE}"
    first_screen = ast.get_docstring(ast.parse((ROOT / f"{sibling}.py").read_text(encoding="utf-8")))
    assert "Holds:" in first_screen and "May import:" in first_screen


def test_tools_use_the_builders_public_names():
    for path in (ROOT / "scifig_tools").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scifig."):
                assert node.module == "scifig.scifig_compat", f"{path} imports {node.module}"
            if isinstance(node, ast.ImportFrom) and node.module == "scifig":
                assert {alias.name for alias in node.names} <= set(scifig.__all__), path


def test_every_command_registers_its_parser_and_handler_and_help_lists_them_all():
    commands = parser()._subparsers._group_actions[0].choices
    assert len(commands) == len(COMMANDS)
    for name, command in commands.items():
        assert command.get_default("run") is not None or name == "harness"
    assert all(harness.get_default("run") for harness in commands["harness"]._subparsers._group_actions[0]
               .choices.values())
    main = (ROOT / "scifig_tools" / "__main__.py").read_text(encoding="utf-8")
    assert not any(f'"{name}"' in main for name in commands), "__main__ dispatches on a command name"


def test_files_and_functions_stay_a_size_a_reader_can_hold():
    for path in PRODUCT:
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 800, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 80, f"{path}:{node.lineno} {node.name}"
