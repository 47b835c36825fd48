"""The machine description: flags read from /proc/cpuinfo when it runs, versions found without importing."""

from __future__ import annotations

import json
import subprocess
import sys

from reid_runtime.bench import machine


def test_flags_and_model_are_read_from_cpuinfo_at_run_time(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n"
                       "flags\t\t: fpu sse avx2 fma avx512_vnni amx_tile\n")
    monkeypatch.setattr(machine, "CPUINFO", str(cpuinfo))
    described = machine.describe_machine()
    assert described["cpu"] == "Test CPU 9000"
    assert described["cpu_flags"] == ["avx2", "fma", "avx512_vnni", "amx_tile"]
    text = machine.machine_markdown(described)
    assert "Test CPU 9000" in text and "avx512_vnni" in text and "AMX: yes" in text and "Load average" in text
    assert described["versions"]["numpy"] and described["versions"]["onnxruntime"]


def test_versions_do_not_import_torch():
    code = ("import sys, json; from reid_runtime.bench.machine import describe_machine; d = describe_machine(); "
            "print(json.dumps({'imported': 'torch' in sys.modules, 'versions': d['versions']}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout)
    assert out["imported"] is False
    assert "numpy" in out["versions"]
