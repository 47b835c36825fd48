"""``import reid_runtime`` is light, and its public names (load, the services and their reports) resolve lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_is_light_and_names_resolve_on_first_use():
    code = (
        "import sys, reid_runtime\n"
        "light = not any(m.split('.')[0] in ('numpy', 'onnxruntime', 'PIL') for m in sys.modules)\n"
        "from reid_runtime import evaluate, embed, inspect_model, load, EvalReport, ReidError\n"
        "import reid_runtime.services.evaluate as e, reid_runtime.services.embed as m\n"
        "import reid_runtime.services.info as i\n"
        "assert (evaluate, embed, inspect_model, EvalReport) == (e.evaluate, m.embed, i.inspect_model, e.EvalReport)\n"
        "print(light, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_unknown_names_raise_attribute_error():
    import reid_runtime

    with pytest.raises(AttributeError, match="no attribute 'evaluation_report'"):
        reid_runtime.evaluation_report  # noqa: B018
    assert {"load", "evaluate", "embed", "inspect_model", "SearchReport"} <= set(dir(reid_runtime))
