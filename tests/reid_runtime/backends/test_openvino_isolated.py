"""Runs the OpenVINO backend tests (test_openvino_backend.py) in a pytest process of their own.

OpenVINO's runtime threads do not survive a fork, so loading it in the main test process would crash the later tests
that fork DataLoader workers (see tests/conftest.py). The child's summary is shown when it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")

MODULE = Path(__file__).with_name("test_openvino_backend.py")


def test_openvino_backend_suite_in_its_own_process():
    env = {**os.environ, "REID_TEST_OPENVINO_CHILD": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(MODULE)],
                            capture_output=True, text=True, env=env, timeout=900, cwd=MODULE.parents[3])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1], result.stdout[-2000:]
