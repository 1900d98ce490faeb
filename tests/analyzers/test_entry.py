"""Entry scripts name their worker by service key, so nothing can fail before output.json."""

import json
import subprocess
import sys


def test_a_worker_that_cannot_be_loaded_still_writes_output(tmp_path):
    job = tmp_path / "cortex-job-x"
    (job / "input").mkdir(parents=True)
    (job / "input" / "input.json").write_text(json.dumps(
        {"data": "8.8.8.8", "dataType": "ip", "tlp": 2, "pap": 2, "message": "",
         "parameters": {}, "config": {"service": "Nope", "api_key": "k3y-never-shown"}}))
    script = tmp_path / "entry.py"
    script.write_text("from socflow.adapters.cortex.base import run_worker\nrun_worker('Nope')\n")
    proc = subprocess.run([sys.executable, str(script), str(job)], capture_output=True, text=True)
    out = json.loads((job / "output" / "output.json").read_text())
    assert out["success"] is False
    assert "cannot load the worker" in out["errorMessage"] and "Nope" in out["errorMessage"]
    assert "Traceback" not in proc.stderr and "k3y-never-shown" not in json.dumps(out)
