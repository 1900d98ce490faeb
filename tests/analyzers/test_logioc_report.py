"""What Socflow_LogIOC's long report shows analysts: no job paths, a level of its own."""

from pathlib import Path

from support.cortexjob import run_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"


def test_sources_name_the_attachment_not_the_job_folder():
    out = run_job("Socflow_LogIOC", data_type="file", file=EXAMPLES / "auth.log", filename="server1-auth.log").output
    assert out["success"], out
    assert [s["source"] for s in out["full"]["sources"]] == ["server1-auth.log"]
    assert "cortex-job-" not in str(out["full"])
    # the report states the level its taxonomies give, for the template's verdict word
    assert out["full"]["level"] == "malicious"
    assert out["full"]["taxonomies"] == out["summary"]["taxonomies"]


def test_pasted_text_is_named_as_such():
    out = run_job("Socflow_LogIOC", data_type="other", data="all quiet\n").output
    assert [s["source"] for s in out["full"]["sources"]] == ["pasted text"]
    assert out["full"]["level"] == "safe"
