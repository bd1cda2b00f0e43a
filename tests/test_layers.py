"""The layer rule: imports point down only, miner → protocol → scoring → engine, and engine imports nothing
of ours. Every import statement counts — module level, inside functions (lazy imports), under
``TYPE_CHECKING`` — and so does ``importlib.import_module`` with a literal name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Higher may import lower (and itself), never the other way.
LAYERS = {"engine": 0, "scoring": 1, "protocol": 2, "miner": 3}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
            elif node.module:
                found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def _violations(path: Path) -> list[str]:
    own = LAYERS[path.relative_to(ROOT).parts[0]]
    out = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        if top in LAYERS and LAYERS[top] > own:
            out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


SOURCES = sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_only(path: Path) -> None:
    assert _violations(path) == []


def test_every_package_is_scanned_with_its_lazy_imports() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in SOURCES} == set(LAYERS)
    # the scan sees imports inside functions: the registry loads its entries lazily, in a function
    registry = [m for _, m in _imports(ROOT / "scoring" / "registry.py")]
    assert "scoring.algorithms" in registry


def test_an_upward_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_root = tmp_path
    (fake_root / "scoring").mkdir()
    bad = fake_root / "scoring" / "bad.py"
    bad.write_text("def f():\n    from protocol.identity import parse_public_key\n    import importlib\n"
                   "    importlib.import_module('miner.cli')\n")
    (fake_root / "engine").mkdir()
    worse = fake_root / "engine" / "worse.py"
    worse.write_text("from ..scoring import ids\n")
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    assert _violations(bad) == ["scoring/bad.py:2 imports protocol.identity", "scoring/bad.py:4 imports miner.cli"]
    assert _violations(worse) == ["engine/worse.py:1 imports scoring"]
