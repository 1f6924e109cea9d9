"""``aigw check`` end to end, in a subprocess (it runs pytest and registers Schemathesis checks: keep that
out of this session): the embedded default, exit 2 for runs that cannot proceed, not-applicable groups,
and the reports."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aigw.protocol.serving import free_port
from conftest import running_mock

pytestmark = pytest.mark.slow


def aigw_check(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aigw.cli.main", "check", *args], capture_output=True, text=True,
                          timeout=timeout)


def scorecard(report_dir: Path) -> dict:
    return json.loads((report_dir / "scorecard.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    report_dir = tmp_path_factory.mktemp("contract")
    return aigw_check("--include", "schema,robustness", "--max-examples", "10", "--seed", "3", "--report-dir", str(report_dir)), report_dir


def test_embedded_default_is_compliant(embedded_run) -> None:
    result, report_dir = embedded_run
    card = scorecard(report_dir)
    failures = [f"{f['test']}: {f['message']}" for g in card["groups"].values() for f in g["failures"]]
    assert result.returncode == 0, "\n".join(failures) or result.stderr[-3000:]
    assert set(card["groups"]) == {"schema", "robustness"}
    assert card["groups"]["schema"]["passed"] >= 40 and card["groups"]["robustness"]["passed"] >= 20, card["totals"]
    assert card["profile"] == "gateway" and card["verdict"] == "compliant"


def test_reports_are_written_and_parseable(embedded_run) -> None:
    _, report_dir = embedded_run
    card = scorecard(report_dir)
    cases = ET.parse(report_dir / "junit.xml").getroot().iter("testcase")
    names = [case.get("name") for case in cases]
    assert len(names) == sum(card["totals"].values())
    assert any("POST /openai/deployments/{deployment-id}/chat/completions usage_arithmetic" in n for n in names)
    assert any("negative_data_rejection" in n for n in names)
    html = (report_dir / "report.html").read_text("utf-8")
    assert "<style>" in html and "robustness" in html and card["verdict"] in html
    assert "<link" not in html and "<script" not in html and "src=" not in html  # self-contained
    assert "tenant-a-key-0001" not in html and "ops-key-000000003" not in (report_dir / "scorecard.json").read_text()


def test_summary_table_and_progress_go_to_the_terminal(embedded_run) -> None:
    result, report_dir = embedded_run
    for text in ("schema", "robustness", "passed", "N/A", scorecard(report_dir)["verdict"], "reports:"):
        assert text in result.stderr, text


def test_unreachable_target_exits_2_before_running(tmp_path) -> None:
    result = aigw_check("--target", f"http://127.0.0.1:{free_port()}", "--report-dir", str(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "unreachable" in result.stderr
    assert not (tmp_path / "scorecard.json").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--include", "schemas"], "unknown group schemas"),
    (["--max-examples", "0"], "must be at least 1"),
    (["--workers", "2"], "not supported"),
    (["--capabilities", "/nonexistent/caps.yaml"], "no such file"),
    (["--capability", "teleport=true"], "teleport"),
    (["--profile", "proxy"], "invalid choice"),
    (["--mock-admin", "http://127.0.0.1:1"], "explicit --target"),
])
def test_bad_flags_exit_2_with_a_clear_message(flags, message) -> None:
    result = aigw_check(*flags, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unsupported_groups_are_not_applicable(tmp_path) -> None:
    caps = tmp_path / "caps.yaml"
    caps.write_text("v1_paths: false\nseed_paths: false\ncaching: false\n")
    with running_mock() as (url, _app):
        result = aigw_check("--target", url, "--profile", "backend", "--capabilities", str(caps),
                            "--include", "caching,failover,robustness", "--report-dir", str(tmp_path / "r"))
    card = scorecard(tmp_path / "r")
    assert result.returncode == 0, result.stderr[-3000:]
    for group, reason in (("caching", "does not declare caching"), ("failover", "does not declare failover")):
        entry = card["groups"][group]
        assert entry["status"] == "not_applicable" and entry["passed"] == entry["failed"] == 0, entry
        assert any(reason in r for r in entry["not_applicable_reasons"]), entry
    assert card["groups"]["robustness"]["status"] == "passed"
