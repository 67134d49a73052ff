"""The dependency direction of ../shared/DESIGN.md, enforced on the source with ``ast``.

`cli -> supervisor -> (http, runtime)`; `http -> (cache, ipc, protocol)`;
`runtime -> (registry, protocol)`; http and runtime never import each other;
settings, errors and protocol import nothing above them; the serving path never
loads training code or scikit-learn.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "src" / "warmserve"
TRAINING = ("warmserve.training", "warmserve.registry.training")  # where it lives, or will
MODEL_LIBRARIES = ("mlflow", "pandas", "numpy", "sklearn")
SERVING_PATH = (
    "warmserve.http",
    "warmserve.runtime",
    "warmserve.ipc",
    "warmserve.cache",
    "warmserve.supervisor",
    "warmserve.children",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module, absolute
    line: int
    top_level: bool  # runs at import time (not in a function, not under TYPE_CHECKING)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def is_module(name: str) -> bool:
    return is_package(name) or (PACKAGE.parent / (name.replace(".", "/") + ".py")).exists()


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the importing module's package
        package = module if is_package(module) else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    # `from warmserve import errors` imports the module warmserve.errors
    found = [f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}")]
    return found or [base]


def _walk(node: ast.AST, top_level: bool) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append((child, top_level))
        else:
            deferred = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            )  # runs later, or never
            found += _walk(child, top_level and not deferred)
    return found


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        for node, top_level in _walk(tree, True):
            for target in _targets(node, module):
                found.append(Import(module, target, node.lineno, top_level))
    return tuple(found)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def violations(
    importers: tuple[str, ...], forbidden: tuple[str, ...], top_level_only: bool = False
) -> list[str]:
    return [
        f"{i.module} (line {i.line}) imports {i.target}"
        for i in imports()
        if within(i.module, importers)
        and within(i.target, forbidden)
        and (i.top_level or not top_level_only)
    ]


def test_the_rules_see_the_imports() -> None:
    """A parser that finds nothing would make every rule below pass."""
    targets = {(i.module, i.target) for i in imports()}
    assert ("warmserve.http.frontend", "warmserve.http.routes") in targets
    assert ("warmserve.ipc.client", "warmserve.errors") in targets  # `from warmserve import`
    assert ("warmserve.runtime.model", "mlflow.pyfunc") in targets  # inside a function


def test_http_and_runtime_never_import_each_other() -> None:
    assert violations(("warmserve.http",), ("warmserve.runtime",)) == []
    assert violations(("warmserve.runtime",), ("warmserve.http",)) == []


def test_the_leaf_modules_import_nothing_of_warmserve() -> None:
    for leaf in ("warmserve.settings", "warmserve.errors", "warmserve.protocol"):
        assert violations((leaf,), ("warmserve",)) == [], leaf


def test_the_worker_side_never_imports_the_model_side() -> None:
    forbidden = ("warmserve.runtime", "warmserve.registry", *TRAINING, *MODEL_LIBRARIES)
    assert violations(("warmserve.cache", "warmserve.ipc", "warmserve.http"), forbidden) == []


def test_the_serving_path_never_loads_training_code_or_sklearn() -> None:
    """Directly, or through any chain of module-level imports inside the package."""
    assert violations(SERVING_PATH, (*TRAINING, "sklearn"), top_level_only=True) == []
    edges: dict[str, set[str]] = {}
    for i in imports():
        if i.top_level:
            edges.setdefault(i.module, set()).add(i.target)
    for start in sorted({i.module for i in imports() if within(i.module, SERVING_PATH)}):
        seen, todo = {start}, [start]
        while todo:
            module = todo.pop()
            parents = [module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)]
            for target in edges.get(module, set()) | set(parents):
                assert not within(target, (*TRAINING, "sklearn")), f"{start} loads {target}"
                if target.startswith("warmserve") and target not in seen:
                    seen.add(target)
                    todo.append(target)


def test_importing_the_http_worker_loads_no_model_library() -> None:
    probe = (
        "import json, sys; import warmserve.http.worker; "
        f"print(json.dumps(sorted(m for m in {list(MODEL_LIBRARIES)!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout) == []


def test_private_mlflow_names_are_imported_only_by_the_compatibility_module() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "mlflow_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlflow"):
                names = [node.module or "", *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("mlflow")]
            else:
                continue
            if any(part.startswith("_") for name in names for part in name.split(".")):
                offenders.append(f"{module_name(path)} (line {node.lineno})")
    assert offenders == []
