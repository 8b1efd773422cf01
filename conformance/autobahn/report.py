"""Reading wstest's report (``<outdir>/index.json`` and one ``<agent>_case_<id>.json`` per case) and
judging it.

Each case has two verdicts. ``behavior``: what the server did with the frames, OK, NON-STRICT (allowed
by RFC 6455 but not what a strict peer does, e.g. failing late on invalid UTF-8), INFORMATIONAL
(nothing to judge: the close reason a server picks, say), UNIMPLEMENTED (12.*/13.*: the server did
not accept the permessage-deflate offer) or FAILED. ``behaviorClose``: how the connection ended, OK,
INFORMATIONAL, or FAILED, WRONG CODE, UNCLEAN, FAILED BY CLIENT.

tapster is held to OK or INFORMATIONAL on both: NON-STRICT fails here, and so does UNIMPLEMENTED,
since tapster implements permessage-deflate (a declined offer is a regression).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "PASSING",
    "CaseResult",
    "case_key",
    "load_results",
    "section_of",
    "sections",
    "summarize",
]

PASSING = frozenset({"OK", "INFORMATIONAL"})


def case_key(case_id: str) -> tuple[int, ...]:
    """Sort key: "9.1.10" after "9.1.9"."""
    return tuple(int(part) for part in case_id.split("."))


def section_of(case_id: str) -> str:
    """The top-level section: "12" for "12.1.3"."""
    return case_id.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class CaseResult:
    id: str
    behavior: str
    behavior_close: str
    duration_ms: int
    remote_close_code: int | None
    description: str = ""
    expectation: str = ""
    result: str = ""  # wstest's explanation of `behavior`
    result_close: str = ""  # ... and of `behavior_close`
    started: datetime | None = None  # wstest's clock, UTC
    received: str = ""  # the frames and messages wstest got, as its report lists them
    expected_ok: str = ""  # what it would have graded OK
    report_file: Path | None = None

    @property
    def passed(self) -> bool:
        return self.behavior in PASSING and self.behavior_close in PASSING

    @property
    def verdict(self) -> str:
        """One word for tables: the behavior, or the close verdict when only that is off."""
        if self.behavior not in PASSING or self.behavior_close in PASSING:
            return self.behavior
        return f"close {self.behavior_close}"

    def explain(self) -> str:
        """What was expected and what happened, from the case's own report."""
        lines = [
            f"{self.id}: behavior {self.behavior}, close {self.behavior_close}"
            f" (server's close code {self.remote_close_code})",
            f"  case:     {self.description}",
            f"  expected: {self.expectation}",
        ]
        if self.behavior not in PASSING:
            lines.append(f"  result:   {self.result}")
            lines.append(f"  OK needs: {self.expected_ok}")
            lines.append(f"  received: {self.received}")
        if self.behavior_close not in PASSING:
            lines.append(f"  close:    {self.result_close}")
        if self.report_file is not None:
            lines.append(f"  report:   {self.report_file}")
        return "\n".join(lines)


def _text(value: object, limit: int = 400) -> str:
    """One line of at most `limit` characters, without the report's HTML emphasis."""
    if value is None:
        return ""
    text = " ".join(str(value).replace("<b>", "").replace("</b>", "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_results(outdir: Path, agent: str) -> dict[str, CaseResult]:
    """Every case of `agent` in `outdir`/index.json, with the explanations from its own report."""
    index = json.loads((outdir / "index.json").read_text())
    results: dict[str, CaseResult] = {}
    for case_id, entry in index.get(agent, {}).items():
        report_file = outdir / entry["reportfile"] if entry.get("reportfile") else None
        detail: dict[str, Any] = {}
        if report_file is not None and report_file.is_file():
            detail = json.loads(report_file.read_text())
        close_code = entry.get("remoteCloseCode")
        started = detail.get("started")
        results[case_id] = CaseResult(
            id=case_id,
            behavior=entry["behavior"],
            behavior_close=entry["behaviorClose"],
            duration_ms=int(entry.get("duration", 0)),
            remote_close_code=int(close_code) if close_code is not None else None,
            description=_text(detail.get("description")),
            expectation=_text(detail.get("expectation")),
            result=_text(detail.get("result")),
            result_close=_text(detail.get("resultClose")),
            started=datetime.fromisoformat(started) if started else None,
            received=_text(detail.get("received")),
            expected_ok=_text((detail.get("expected") or {}).get("OK")),
            report_file=report_file,
        )
    return dict(sorted(results.items(), key=lambda item: case_key(item[0])))


def sections(results: Iterable[CaseResult]) -> dict[str, list[CaseResult]]:
    grouped: dict[str, list[CaseResult]] = {}
    for result in sorted(results, key=lambda r: case_key(r.id)):
        grouped.setdefault(section_of(result.id), []).append(result)
    return dict(sorted(grouped.items(), key=lambda item: int(item[0])))


@dataclass(frozen=True, slots=True)
class SectionSummary:
    section: str
    cases: int
    behaviors: Counter[str]  # behavior -> cases
    close_failures: int  # cases whose behavior passed but whose close did not
    seconds: float  # the cases' durations added up (wstest's own clock, from open to close)
    wall_seconds: float | None  # from the first case's start to the last one's end (with handshakes)


def _wall(cases: list[CaseResult]) -> float | None:
    starts = [(case.started, case.duration_ms) for case in cases if case.started is not None]
    if len(starts) < len(cases) or not starts:
        return None
    begin = min(start for start, _ in starts)
    end = max(start + timedelta(milliseconds=ms) for start, ms in starts)
    return (end - begin).total_seconds()


def summarize(results: Iterable[CaseResult]) -> list[SectionSummary]:
    summaries = []
    for section, cases in sections(results).items():
        summaries.append(
            SectionSummary(
                section=section,
                cases=len(cases),
                behaviors=Counter(case.behavior for case in cases),
                close_failures=sum(
                    case.behavior in PASSING and case.behavior_close not in PASSING for case in cases
                ),
                seconds=sum(case.duration_ms for case in cases) / 1000,
                wall_seconds=_wall(cases),
            )
        )
    return summaries
