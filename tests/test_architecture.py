"""The house rules from STYLE.md that a reviewer would otherwise have to remember.

- Layers only look down: a module under apps/ imports (at any depth, including inside
  functions and `if TYPE_CHECKING:` blocks) only from its own app and the apps below it.
  config/ sits on top and may import everything; no app imports config.
- No function or method in apps/ or config/ is longer than MAX_FUNCTION_LINES, except the
  few listed in LONG_BY_DESIGN (declarative data, each with its reason). Migrations are
  generated code and are left out.

The source is read with `ast`; no module is imported, so a broken import cannot hide a rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom first: an app may import from itself and the apps before it in this list.
LAYERS = [
    "core",
    "accounts",
    "jobs",
    "notifications",
    "datasources",
    "llm_agent",
    "llm_artifact",
    "schedules",
    "llm_chat",
]
# config/ is the top floor: it knows every app, and no app may know it.
TOP = "config"

MAX_FUNCTION_LINES = 80
# "path::qualified.name" -> why its length is data, not logic. Keep this list short.
LONG_BY_DESIGN: dict[str, str] = {}


def python_files(folder: str) -> list[Path]:
    return sorted(path for path in (ROOT / folder).rglob("*.py") if "migrations" not in path.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- Layers ------------------------------------------------------------------------------------


def package_of(path: Path) -> list[str]:
    """The dotted package a file's relative imports start from, as parts."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1]  # a module's package; for __init__ the package itself


def imported_names(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) for every import in the file, wherever it stands.

    `from apps import llm_chat` yields both `apps` and `apps.llm_chat`, so an app imported
    by its package name is seen too.
    """
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = package_of(path)
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def layer_of(dotted: str) -> str | None:
    """The app (or config) a dotted module name belongs to, or None outside the project."""
    parts = dotted.split(".")
    if parts[0] == TOP:
        return TOP
    if parts[0] == "apps" and len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return None


def rank(layer: str) -> int:
    return len(LAYERS) if layer == TOP else LAYERS.index(layer)


def upward_imports() -> list[str]:
    offenders = set()
    for path in python_files("apps"):
        own = path.relative_to(ROOT).parts[1]
        if own not in LAYERS:
            continue  # reported by test_every_app_has_a_layer
        for line, name in imported_names(path):
            target = layer_of(name)
            if target is not None and rank(target) > rank(own):
                package = TOP if target == TOP else f"apps.{target}"
                offenders.add(f"{relative(path)}:{line} ({own}) imports from {package}")
    return sorted(offenders)


def test_every_app_has_a_layer():
    apps = sorted(p.name for p in (ROOT / "apps").iterdir() if (p / "__init__.py").exists())
    unplaced = [app for app in apps if app not in LAYERS]
    assert not unplaced, (
        f"apps without a place in LAYERS (add them on the right floor): {', '.join(unplaced)}"
    )


def test_no_module_imports_from_a_layer_above_it():
    offenders = upward_imports()
    assert not offenders, (
        f"Layers only look down ({' < '.join(LAYERS)} < {TOP}); "
        "these imports look up (point a foreign key up by its string label instead, or move "
        "the code down):\n  " + "\n  ".join(offenders)
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from apps.llm_chat.models import Chat", ["apps.llm_chat"]),
        ("def f():\n    import apps.llm_artifact.views", ["apps.llm_artifact"]),
        ("if TYPE_CHECKING:\n    from apps import llm_chat", ["apps.llm_chat"]),
        ("from ..llm_artifact import models", ["apps.llm_artifact"]),
        ("from config import settings", ["config"]),
    ],
)
def test_an_upward_import_is_found_wherever_it_stands(tmp_path, monkeypatch, source, expected):
    # The rule's own check: write a module into a throwaway apps/llm_agent and scan it.
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    app = tmp_path / "apps" / "llm_agent"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "helpers.py").write_text(source + "\n")

    offenders = upward_imports()

    assert [o.split(" imports from ")[1] for o in offenders] == expected


def test_imports_from_the_same_or_a_lower_layer_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    app = tmp_path / "apps" / "llm_artifact"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "views.py").write_text(
        "from . import models\nfrom .models import Artifact\n"
        "from apps.llm_agent.models import Agent\nfrom apps.core.http import is_partial\n"
        "import django.db\nfrom django.conf import settings\n"
    )

    assert upward_imports() == []


# --- Function length ---------------------------------------------------------------------------


def functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) for every function and method, nested ones included."""

    def visit(node: ast.AST, prefix: str) -> Iterator:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(tree, "")


def long_functions() -> dict[str, int]:
    """ "path::name" -> length in lines (from `def` to its last line) for every long function."""
    found = {}
    for folder in ("apps", "config"):
        for path in python_files(folder):
            for name, node in functions(parse(path)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{relative(path)}::{name}"] = length
    return found


def test_no_function_is_longer_than_the_limit():
    offenders = {
        where: length for where, length in long_functions().items() if where not in LONG_BY_DESIGN
    }
    listing = "\n  ".join(f"{where}: {length} lines" for where, length in sorted(offenders.items()))
    assert not offenders, (
        f"Functions over {MAX_FUNCTION_LINES} lines (split them by topic; only declarative "
        f"data may go in LONG_BY_DESIGN, with its reason):\n  {listing}"
    )


def test_every_exemption_is_still_needed():
    stale = sorted(set(LONG_BY_DESIGN) - set(long_functions()))
    assert not stale, f"LONG_BY_DESIGN names functions that are short or gone now: {stale}"


def test_a_long_method_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "apps" / "core").mkdir(parents=True)
    body = "\n".join(f"        x = {n}" for n in range(MAX_FUNCTION_LINES))
    (tmp_path / "apps" / "core" / "long.py").write_text(
        f"class Thing:\n    def short(self):\n        return 1\n\n    def long(self):\n{body}\n"
    )

    assert long_functions() == {"apps/core/long.py::Thing.long": MAX_FUNCTION_LINES + 1}


def test_template_comments_close_on_their_line() -> None:
    # Django's {# #} comment is one line only: a comment that runs on is printed on the page.
    # Longer notes use {% comment %}.
    open_comments = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("apps", "templates")
        for path in sorted((ROOT / folder).rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert not open_comments, f"{{# #}} comments left open (use {{% comment %}}): {open_comments}"
