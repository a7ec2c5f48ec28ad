"""The two lock files: the runtime lock the image installs holds no dev package, and no committed file names a
package index. Offline: reads the files in the repository."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

m = sys.modules["switchboard_tests_deploy_manifests"]  # loaded by conftest.py
ROOT = m.REPO_ROOT
RUNTIME, DEV = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_runtime_lock_holds_no_dev_package() -> None:
    assert m.check_runtime_lock(RUNTIME.read_text(), DEV.read_text(), _pyproject()) == []


@pytest.mark.parametrize(("package", "where"), [("moto==5.2.5", "dev extra"), ("boto3==1.44.8", "dev lock"),
                                                ("playwright==1.50.0", "dev extra")])
def test_a_dev_package_in_the_runtime_lock_fails(package: str, where: str) -> None:
    doctored = RUNTIME.read_text() + f"{package}\n    # via switchboard (pyproject.toml)\n"
    problems = m.check_runtime_lock(doctored, DEV.read_text(), _pyproject())
    name = package.split("==")[0]
    assert any(name in p and where in p for p in problems), problems


def test_a_runtime_dependency_missing_from_the_runtime_lock_fails() -> None:
    doctored = "\n".join(ln for ln in RUNTIME.read_text().splitlines() if not ln.startswith("tzdata=="))
    assert any("tzdata" in p for p in m.check_runtime_lock(doctored, DEV.read_text(), _pyproject()))


def test_runtime_lock_pins_the_image_needs() -> None:
    pins = m.lock_pins(RUNTIME.read_text())
    assert "tzdata" in pins, "zoneinfo needs the IANA database; python:3.11-slim has none"
    assert "obstore" in pins
    for name, version in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)


def test_dockerfile_installs_the_runtime_lock_only() -> None:
    text = m.DOCKERFILE.read_text()
    assert m.check_dockerfile(text) == []
    assert "requirements-dev.lock" not in text
    assert m.is_dockerignored(m.dockerignore_patterns(m.DOCKERIGNORE.read_text()), "requirements-dev.lock")
    doctored = text.replace("-r requirements.lock", "-r requirements.lock -r requirements-dev.lock")
    assert any("requirements-dev.lock" in p for p in m.check_dockerfile(doctored))


def test_make_and_ci_install_both_locks() -> None:
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert "-r requirements.lock -r requirements-dev.lock" in install
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\):.*requirements\.lock.*requirements-dev\.lock", makefile, re.M)
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.M)  # CI's `make test` installs through the stamp
    assert "scripts/lock.sh" in makefile
    lock = (ROOT / "scripts" / "lock.sh").read_text()
    assert "pip install" in lock and ".venv/bin/uv" in lock  # bootstraps its own uv on a fresh clone


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out.decode().split("\0") if p]


def test_no_committed_file_names_a_package_index() -> None:
    found = []
    for path in _tracked_files():
        if not path.is_file() or path.suffix in (".png", ".jpg", ".woff2", ".xlsx", ".gz"):
            continue
        found += [f"{path.relative_to(ROOT)}: {p}" for p in m.index_urls(path.read_text(errors="replace"))]
    assert found == []


# Built at run time, so this file itself names no index (the scan above reads it too).
_URL = "https://pypi.example.org/" + "simple"


@pytest.mark.parametrize("line", [f"--index-url {_URL}", f"-i {_URL}", f"--extra-index-url file:///opt/x/{'simple'}",
                                  "--find-links /opt/wheels", f"extra-index-url = {_URL}/", f"pip install x -i {_URL}"])
def test_index_url_detector(line: str) -> None:
    assert m.index_urls(f"aiohttp==3.14\n{line}\n")


def test_index_url_detector_ignores_ordinary_text() -> None:
    assert m.index_urls("grep -i simple README.md\nsed -i 's/a/b/' f\nsee the simple guide\n") == []
