"""The house rules of the repository, checked on the source tree (fast, no services).

These are what docs/architecture.md promises a newcomer: no import cycles, no module past
500 lines, the gateway's app only assembles, names two services share are defined once in
``keel_common.contract``, no service calls another by a string method name, every service
has the same shape, and every link in the docs resolves inside the repository.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel_common import contract

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500


def _source_roots() -> list[Path]:
    return sorted([*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src")])


def _generated(path: Path) -> bool:
    return "keel-proto" in path.parts or "migrations" in path.parts


def _modules() -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of every hand-written module of every package."""
    for src in _source_roots():
        for f in sorted(src.rglob("*.py")):
            if _generated(f):
                continue
            parts = f.relative_to(src).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), f


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, at any depth of the file (imports inside functions
    form cycles at run time too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        for t in targets:
            while t and t not in known:  # `from pkg.mod import func` imports pkg.mod
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself: a cycle through three modules is found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles() -> None:
    modules = dict(_modules())
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_no_module_over_500_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for _, path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_gateway_app_only_assembles() -> None:
    app = ROOT / "services/gateway/src/keel_gateway/app.py"
    assert len(app.read_text().splitlines()) < 100


def _shared_values() -> dict[str, str]:
    return {k: v for k, v in vars(contract).items() if k.isupper() and isinstance(v, str)}


def _string_literals(tree: ast.AST) -> Iterator[tuple[ast.Constant, ast.AST | None]]:
    """Every string constant that is not a docstring, with its parent node."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            if (
                isinstance(child, ast.Constant)
                and isinstance(child.value, str)
                and id(child) not in docstrings
            ):
                yield child, parent


def _is_key(node: ast.Constant, parent: ast.AST | None) -> bool:
    """A dict key or a lookup key: ``{"keel": …}``, ``d["keel"]``, ``d.get("keel")``."""
    if isinstance(parent, ast.Dict) and node in parent.keys:
        return True
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return True
    return (
        isinstance(parent, ast.Call)
        and isinstance(parent.func, ast.Attribute)
        and parent.func.attr in {"get", "pop", "setdefault"}
    )


def test_shared_names_are_defined_once() -> None:
    """Outside ``keel_common.contract`` no source spells a contract name out. The operator
    tenant ``"keel"`` is also the name of Keel's extension field in OpenAI bodies, so its
    use as a dict or lookup key is not a second definition."""
    shared = _shared_values()
    short = {v for v in shared.values() if ":" not in v and not v.startswith("x-")}
    found: list[str] = []
    contract_file = Path(contract.__file__).resolve()
    for _, path in _modules():
        if path.resolve() == contract_file:
            continue
        for node, parent in _string_literals(ast.parse(path.read_text())):
            for name, value in shared.items():
                hit = node.value == value if value in short else value in node.value
                if hit and not (value == contract.OPERATOR_TENANT and _is_key(node, parent)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} spells {name} ({value!r})")
    assert found == []


def test_shared_name_check_sees_a_literal(tmp_path: Path) -> None:
    """The check above would catch a channel name written out again."""
    tree = ast.parse(f'"""doc {contract.ALIAS_CHANNEL}"""\nCHANNEL = "{contract.ALIAS_CHANNEL}"\n')
    literals = [n.value for n, _ in _string_literals(tree)]
    assert literals == [contract.ALIAS_CHANNEL]


def _string_named_calls(tree: ast.AST) -> Iterator[int]:
    """Lines that call a remote method named in a string: ``x.call("load_adapter", …)``,
    ``self._rpc("CreateJob", …)``, ``getattr(stub, "GetModel")``. Lua's ``redis.call('GET')``
    inside a script string is text, not a call, so it is not seen."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if (
            name in {"call", "_rpc", "rpc"}
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            yield node.lineno
        if (
            name == "getattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value[:1].isupper()  # gRPC methods are CamelCase
        ):
            yield node.lineno


def test_string_call_check_sees_one() -> None:
    code = 'engine.call("load_adapter", ref)\nstub._rpc("CreateJob")\ns = "redis.call(\'GET\', k)"\n'
    assert list(_string_named_calls(ast.parse(code))) == [1, 2]


def test_no_service_calls_another_by_string_name() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for _, path in _modules()
        for line in _string_named_calls(ast.parse(path.read_text()))
    ]
    assert offenders == []


SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_shape(service: str) -> None:
    """config.py, __main__.py, a thin transport (grpc_api.py or http_api/), its own tests and
    conftest, a Dockerfile that uses the shared build stage."""
    pkg = ROOT / "services" / service / "src" / f"keel_{service}"
    assert (pkg / "config.py").is_file()
    assert (pkg / "__main__.py").is_file()
    assert (pkg / "grpc_api.py").is_file() or (pkg / "http_api").is_dir()
    assert not (pkg / "server.py").exists(), "server.py is ambiguous: grpc_api.py or testing.py"
    assert (ROOT / "services" / service / "tests" / "conftest.py").is_file()


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(ROOT.glob("*/README.md"))]


def test_docs_exist() -> None:
    assert (ROOT / "docs" / "architecture.md").is_file()


@pytest.mark.parametrize("doc", _docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_links_resolve_inside_the_repository(doc: Path) -> None:
    broken = []
    for target in _LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        resolved = (doc.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert broken == []
    assert "../shared" not in doc.read_text()
