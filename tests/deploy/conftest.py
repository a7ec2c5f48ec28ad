"""Load the offline helpers (manifests.py) once, under one module name, for every test module here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "switchboard_tests_deploy_manifests"

if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(NAME, Path(__file__).with_name("manifests.py"))
    assert _spec and _spec.loader
    sys.modules[NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[NAME])
