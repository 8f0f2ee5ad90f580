"""The import contracts of pyproject.toml (`make lint` runs them) hold for the real tree,
and wrong-way imports written into a copy of the tree break them, each one named under
the contract it breaks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    c["id"]: c["name"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}
# (module, the import appended to it, the contract it breaks, how the report names it)
WRONG_WAY = [
    # The door to Intuit learns of a domain.
    ("app/qbo/errors.py", "app.events.models", "packages", "app.qbo.errors -> app.events.models"),
    # A building block reaches up into the worker's wiring.
    ("app/core/keys.py", "app.worker.tasks", "packages", "app.core.keys -> app.worker.tasks"),
    # A service imports its own router: a layer, the routers' protection and a cycle.
    (
        "app/events/service.py",
        "app.events.router",
        "domain-layers",
        "app.events.service -> app.events.router",
    ),
    (
        "app/events/service.py",
        "app.events.router",
        "routers",
        "app.events.service -> app.events.router",
    ),
    ("app/events/service.py", "app.events.router", "no-cycles", ".service -> .router"),
    # A domain reaches past the door into the QBO client.
    ("app/sync/realm.py", "app.qbo.client", "qbo-door", "app.sync.realm -> app.qbo.client"),
    # A pure builder opens a database session.
    (
        "app/sync/payloads/text.py",
        "app.db",
        "pure-builders",
        "app.sync.payloads.text -> app.db",
    ),
    # The emulator borrows the service's settings, and a domain starts the emulator.
    ("app/emulator/clock.py", "app.config", "emulator-alone", "app.emulator.clock -> app.config"),
    (
        "app/status/service.py",
        "app.emulator.app",
        "emulator-apart",
        "app.status.service -> app.emulator.app",
    ),
]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the `app` package in `cwd`, with the contracts of its pyproject."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sections(report: str) -> dict[str, str]:
    """The text under each broken contract's heading, by contract id (names may wrap)."""
    text = " ".join(report.split("Broken contracts", 1)[-1].split())
    found = sorted((text.find(name), cid) for cid, name in CONTRACTS.items() if name in text)
    bounds = [start for start, _ in found[1:]] + [len(text)]
    return {cid: text[start:end] for (start, cid), end in zip(found, bounds, strict=True)}


@pytest.fixture(scope="module")
def wrong_way_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "app", tree / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for module, target, _, _ in WRONG_WAY:
        path = tree / module
        path.write_text(path.read_text() + f"\nimport {target}  # the wrong way\n")
    return lint_imports(tree)


def test_the_tree_keeps_every_contract() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(CONTRACTS)} kept, 0 broken" in run.stdout


def test_wrong_way_imports_fail_the_lint(wrong_way_run: subprocess.CompletedProcess[str]) -> None:
    assert wrong_way_run.returncode == 1, wrong_way_run.stdout + wrong_way_run.stderr


@pytest.mark.parametrize(("module", "target", "contract", "named"), WRONG_WAY)
def test_the_broken_contract_names_the_wrong_way_import(
    wrong_way_run: subprocess.CompletedProcess[str],
    module: str,
    target: str,
    contract: str,
    named: str,
) -> None:
    broken = sections(wrong_way_run.stdout)
    assert contract in broken, wrong_way_run.stdout
    assert named in broken[contract], broken[contract]
