"""No function in the deployed code (layers/ and functions/) grows past 80 lines: a long function
hides the steps a reader needs to see, so it is split into named pieces instead."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 80


def _long_functions(source: str, path: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_LINES:
                found.append(f"{path}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_over_80_lines_in_layers_and_functions():
    files = sorted(p for top in ("layers", "functions") for p in (ROOT / top).rglob("*.py"))
    assert len(files) > 50  # the walk found the code
    too_long = [f for p in files for f in _long_functions(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert not too_long, "split these into named steps:\n" + "\n".join(too_long)


def test_the_check_counts_decorators_out_and_nested_functions_in():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    long_one = f"@decorator\ndef outer():\n    def inner():\n        pass\n{body}\n"
    assert _long_functions(long_one, "m.py") == [f"m.py:2 outer ({MAX_LINES + 3} lines)"]
    assert _long_functions("def short():\n    return 1\n", "m.py") == []
