"""The command line stays thin: it parses, calls the package and prints.

Tables and progress bars are built in the package (``agentmarket/display.py``), and the
command line reaches typer and click through their public names only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agentmarket

CLI = Path(agentmarket.__file__).parent / "cli.py"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_command_line_imports_no_private_module_of_typer_or_click() -> None:
    modules = imported_modules(CLI) - {"__future__"}
    private = sorted(m for m in modules if any(part.startswith("_") for part in m.split(".")))
    assert private == []
    assert "_click" not in CLI.read_text(encoding="utf-8")


def test_the_command_line_builds_no_table_or_progress_bar_itself() -> None:
    assert not {"rich.table", "rich.progress"} & imported_modules(CLI)
    assert "Table(" not in CLI.read_text(encoding="utf-8")
