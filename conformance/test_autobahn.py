"""The Autobahn TestSuite's fuzzing client against tapster's WebSockets (the echo app of
conformance/autobahn/_app.py), on asyncio and on trio: sections 1-7 and 10 whole, and a slice of 12
and 13 (permessage-deflate), one wstest run per loop (`CI_CASES`). Every case must come out OK or
INFORMATIONAL, on the frames and on the close, unless conformance/autobahn/allowlist.py names it.

The full suite, every case on any loop, is `python -m conformance.autobahn` (docs/conformance.md).
wstest needs Python 2.7: without one these tests fail and say what to install.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import start_server

from .autobahn import wstest as wstest_module
from .autobahn._app import SERVER_OPTIONS, app
from .autobahn.allowlist import ALLOWED
from .autobahn.report import load_results, section_of, sections
from .autobahn.run import CI_CASES, Run, judge, run_fuzzingclient
from .autobahn.wstest import AutobahnUnavailable, Wstest, ensure_wstest

# Building the Python 2.7 environment the first time takes about 20 s (./dev test does it before
# pytest), and a run 20-25 s; the first test of each loop waits for them.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# How many cases each section of CI_CASES has in autobahntestsuite 25.10.1: a run that skipped some
# (a glob that matches nothing, a wstest that stopped early) fails instead of passing on less.
EXPECTED_CASES = {"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "10": 1, "12": 10, "13": 14}

DOC = Path(__file__).resolve().parents[1] / "docs" / "conformance.md"


@pytest.fixture(scope="session")
def wstest() -> Wstest:
    try:
        return ensure_wstest(quiet=True)
    except AutobahnUnavailable as err:
        reason = str(err)
    pytest.fail(f"the Autobahn TestSuite cannot run here:\n{reason}", pytrace=False)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def autobahn_run(
    request: pytest.FixtureRequest, wstest: Wstest, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    loop = str(request.param)
    running = start_server(app, loop, **SERVER_OPTIONS)
    try:
        return run_fuzzingclient(
            wstest,
            f"ws://{running.host}:{running.port}/",
            agent=f"tapster-{loop}",
            cases=CI_CASES,
            workdir=tmp_path_factory.mktemp(f"autobahn-{loop}"),
            timeout=300,
        )
    finally:
        running.stop()


def test_ci_cases_match_the_expected_sections() -> None:
    assert {pattern.split(".", 1)[0] for pattern in CI_CASES} == set(EXPECTED_CASES)


@pytest.mark.parametrize("section", list(EXPECTED_CASES))
def test_section(autobahn_run: Run, section: str) -> None:
    found = sections(autobahn_run.results.values()).get(section, [])
    assert len(found) == EXPECTED_CASES[section], (
        f"section {section}: wstest ran {len(found)} cases, expected {EXPECTED_CASES[section]} "
        f"(report {autobahn_run.outdir}, log {autobahn_run.log})"
    )
    verdict = judge({case.id: case for case in found})
    assert verdict.ok, f"{autobahn_run.agent}, section {section}:\n{verdict.explain()}"


def test_allowlist_is_documented() -> None:
    """Every known failure has its reason in docs/conformance.md, and names a real case."""
    text = DOC.read_text()
    for case_id, reason in ALLOWED.items():
        assert re.fullmatch(r"\d+(\.\d+)+", case_id), case_id
        assert reason.strip(), case_id
        assert f"`{case_id}`" in text, f"allowlisted case {case_id} is not listed in {DOC}"
        assert section_of(case_id) in {"1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"}


# ---- the harness itself, without wstest


def _write_report(outdir: Path, cases: dict[str, tuple[str, str]]) -> None:
    """A report as wstest writes it: index.json, and one file per case with the explanations."""
    outdir.mkdir(parents=True)
    index: dict[str, dict[str, object]] = {}
    for case_id, (behavior, behavior_close) in cases.items():
        name = f"agent_case_{case_id.replace('.', '_')}.json"
        index[case_id] = {
            "behavior": behavior,
            "behaviorClose": behavior_close,
            "duration": 5,
            "remoteCloseCode": 1002,
            "reportfile": name,
        }
        detail = {
            "description": "Send small text message, then send again with <b>RSV = 2</b>, then send Ping.",
            "expectation": "Echo for first message is received, but then connection is failed immediately.",
            "result": f"result of {case_id}",
            "resultClose": f"close of {case_id}",
            "expected": {"OK": [["message", "Hello, world!", False]], "NON-STRICT": []},
            "received": [],
            "started": "2026-12-03T09:33:01.495Z",
        }
        (outdir / name).write_text(json.dumps(detail))
    (outdir / "index.json").write_text(json.dumps({"agent": index}))


def test_report_is_read_and_judged(tmp_path: Path) -> None:
    _write_report(
        tmp_path / "r",
        {
            "3.2": ("NON-STRICT", "OK"),
            "3.10": ("OK", "OK"),
            "7.13.1": ("INFORMATIONAL", "INFORMATIONAL"),
            "12.1.1": ("UNIMPLEMENTED", "OK"),
            "7.1.1": ("OK", "WRONG CODE"),
            "4.1.3": ("OK", "OK"),
        },
    )
    results = load_results(tmp_path / "r", "agent")
    assert list(results) == ["3.2", "3.10", "4.1.3", "7.1.1", "7.13.1", "12.1.1"]
    assert [case.passed for case in results.values()] == [False, True, True, False, True, False]
    verdict = judge(results, {"3.2": "known", "4.1.3": "known too"})
    assert [case.id for case in verdict.failures] == ["7.1.1", "12.1.1"]
    assert [case.id for case in verdict.known] == ["3.2"]
    assert [case.id for case in verdict.fixed] == ["4.1.3"]
    assert not verdict.ok
    text = verdict.explain({"3.2": "known", "4.1.3": "known too"})
    assert "12.1.1: behavior UNIMPLEMENTED" in text
    assert "close of 7.1.1" in text  # the close verdict's explanation, when the close failed
    assert "result of 12.1.1" in text
    assert "OK needs: [['message', 'Hello, world!', False]]" in text
    assert "RSV = 2" in text  # without the report's HTML
    assert "3.2 (NON-STRICT): known" in text
    assert judge({"3.2": results["3.2"]}, {"3.2": "known"}).ok


def test_no_python27_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TAPSTER_PYTHON27", raising=False)
    monkeypatch.setattr(wstest_module, "_pyenv_roots", lambda: [tmp_path])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AutobahnUnavailable, match=r"needs Python 2\.7") as info:
        wstest_module.find_python27()
    assert "pyenv install 2.7.18" in str(info.value)
    assert "TAPSTER_PYTHON27" in str(info.value)
