"""The install layout: every package lands under the ``aigw`` namespace, editable and from a wheel.

A generic top-level name (``load``, ``cli``, ``specs``) in a user's site-packages would collide with
their own code, so both install modes are checked for exactly the ``aigw.*`` names, and the wheel is
proven to carry the contract files and to run the mock without the source tree.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["aigw.specs", "aigw.protocol", "aigw.mocks", "aigw.gateway", "aigw.contract_tests", "aigw.load", "aigw.stack",
            "aigw.cli"]
FOLDERS = {"specs", "protocol", "mocks", "gateway", "contract_tests", "load", "stack", "cli"}


def test_editable_install_resolves_every_package_to_its_folder():
    import importlib

    for name in PACKAGES:
        module = importlib.import_module(name)
        folder = Path(module.__file__).parent
        assert folder.parent == REPO and folder.name == name.split(".")[1], (name, folder)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
                   check=True, cwd=out)
    (built,) = out.glob("aigw_suite-*.whl")
    return built


def test_every_source_package_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in REPO.glob("*/**/__init__.py"):
        relative = init.relative_to(REPO)
        if relative.parts[0] in FOLDERS:
            assert "aigw/" + relative.as_posix() in names, f"{relative} is missing from the wheel: list it in pyproject packages"


def test_wheel_holds_only_the_aigw_namespace_and_the_contract(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.startswith("aigw_suite-")}
    assert top_level == {"aigw"}
    assert "aigw/specs/openapi.yaml" in names
    assert any(n.startswith("aigw/specs/schemas/") and n.endswith(".json") for n in names)
    assert "aigw/mocks/default.yaml" in names
    assert not any(n.startswith("aigw/__init__") for n in names)  # a namespace, open for plugins
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "aigw = aigw.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _imports(folder: str) -> list[tuple[str, str, str]]:
    """``(file, module, name)`` for every ``from aigw.X import name`` / ``import aigw.X`` in ``folder``."""
    import ast

    found = []
    for path in (REPO / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aigw."):
                found += [(str(path.relative_to(REPO)), node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(str(path.relative_to(REPO)), alias.name, "") for alias in node.names if alias.name.startswith("aigw.")]
    return found


def test_the_suite_and_the_load_scenarios_talk_to_targets_only_over_http():
    """contract_tests/ and load/ get URLs and keys (from aigw.stack, via the CLI); they never import the mock or
    the gateway, and no package reaches into another's private helpers."""
    for folder in ("contract_tests", "load"):
        for file, module, _ in _imports(folder):
            assert not module.startswith(("aigw.mocks", "aigw.gateway", "aigw.stack")), f"{file} imports {module}"
    for folder in FOLDERS:
        for file, module, name in _imports(folder):
            own = module.split(".")[1] == folder
            assert own or not name.startswith("_"), f"{file} imports the private {name} from {module}"


def test_wheel_runs_the_mock_without_the_source_tree(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    # Run outside the repo with only the wheel's copy of aigw importable (dependencies come from this venv).
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import importlib;"
        "mods = [importlib.import_module(n) for n in %r];"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in mods), [m.__file__ for m in mods];"
        "from aigw.protocol.spec import load_openapi; assert load_openapi()['openapi'].startswith('3.1');"
        "from aigw.cli.main import main; sys.exit(main(['mock', '--selftest']))" % PACKAGES
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script, str(target)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stderr
