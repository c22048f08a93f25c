"""The package's two layers: the library (``subsetgrad``) needs torch alone and never
imports the benchmark (``subsetgrad.bench``); no module imports itself through a cycle."""

import ast
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
LIBRARY = sorted(p for p in (SRC / "subsetgrad").glob("*.py"))
HEAVY = {"numpy", "pandas", "matplotlib", "seaborn", "snakemake", "sklearn", "scipy", "yaml", "jsonschema"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (``from a import b``: ``a.b`` when that
    is a module of ours, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _ours(candidate) else base)
    return found


def _ours(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_library_imports_only_torch_and_itself():
    for path in LIBRARY:
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top not in HEAVY, f"{path.name} imports {name}; the library needs torch alone"
            assert not name.startswith("subsetgrad.bench"), f"{path.name} imports the benchmark ({name})"


def test_no_import_cycles():
    modules = {module_name(p): p for p in (SRC / "subsetgrad").rglob("*.py")}
    graph = {m: {i for i in imports_of(p) if i in modules and i != m} for m, p in modules.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycle = stack[stack.index(n) :] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_distribution_requires_torch_alone():
    requires = md.requires("subsetgrad") or []
    plain = [r for r in requires if "extra ==" not in r]
    assert [r.split(">")[0].split("=")[0].split("<")[0].strip() for r in plain] == ["torch"]


def _torch_only_path(tmp_path: Path) -> Path:
    """A folder holding torch and what torch itself requires, and nothing else of this venv."""
    folder = tmp_path / "torch_only"
    folder.mkdir()
    todo, seen = ["torch"], set()
    while todo:
        dist = md.distribution(todo.pop())
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        for file in dist.files or []:
            top = file.parts[0]
            source = Path(dist.locate_file(top))
            if top.endswith((".dist-info", ".pth")) or top.startswith("__") or not source.exists():
                continue
            target = folder / top
            if not target.exists():
                target.symlink_to(source)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(
                    requirement.split(";")[0]
                    .split("[")[0]
                    .split(">")[0]
                    .split("=")[0]
                    .split("<")[0]
                    .split("!")[0]
                    .split("~")[0]
                    .strip()
                )
    assert not (folder / "numpy").exists() and not (folder / "pandas").exists()
    return folder


@pytest.mark.slow
def test_the_library_installs_and_works_next_to_torch_alone(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(REPO),
        ],
        check=True,
    )
    torch_only = _torch_only_path(tmp_path)
    script = f"""
import sys
sys.path[:0] = [{str(site)!r}, {str(torch_only)!r}]
import torch, subsetgrad
assert subsetgrad.__file__.startswith({str(site)!r}), subsetgrad.__file__
for name in ("numpy", "pandas", "matplotlib", "snakemake", "sklearn"):
    assert name not in sys.modules, name + " was imported"
logits = torch.randn(4, 10, requires_grad=True)
for name in subsetgrad.available_estimators():
    options = {{"tau": 0.5}} if subsetgrad.takes_temperature(name) else {{}}
    estimator = subsetgrad.make_estimator(name, 3, **options)
    sample = estimator(logits)
    loss = (sample.khot * torch.arange(10.0)).sum(-1)
    estimator.surrogate(sample, loss).backward()
assert logits.grad is not None and torch.isfinite(logits.grad).all()
try:
    import subsetgrad.bench
except ImportError as err:
    assert "subsetgrad[bench]" in str(err), err
else:
    raise AssertionError("subsetgrad.bench imported without its dependencies")
print("ok")
"""
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
