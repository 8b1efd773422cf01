"""python -m conformance.autobahn [--cases '*'] [--loop asyncio|uvloop|trio ...] [--url ws://...]

Runs the Autobahn TestSuite's fuzzing client against tapster serving the echo app (`_app.py`), once
per loop, and prints per section how many cases came out OK, NON-STRICT, FAILED, ..., then every case
that was not OK with wstest's explanation. Exit status 1 if a case failed that the allowlist does not
excuse (or an allowlisted one passes now), 2 if wstest cannot be set up or run.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from . import _app
from .allowlist import ALLOWED
from .report import summarize
from .run import CI_CASES, Run, judge, run_fuzzingclient, serving
from .wstest import AutobahnUnavailable, autobahn_home, ensure_wstest

_DESCRIPTION = "Runs the Autobahn TestSuite (wstest -m fuzzingclient) against tapster's WebSockets."
_COLUMNS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance.autobahn", description=_DESCRIPTION)
    parser.add_argument(
        "--cases",
        default="*",
        help="comma-separated case ids or wstest globs ('*', '9.*', '12.1.*,13.1.*', '6.4.3'); "
        "'ci' for the subset CI runs (default '*': every case, over ten minutes a loop)",
    )
    parser.add_argument("--exclude", default="", help="comma-separated case ids or globs to leave out")
    parser.add_argument(
        "--loop",
        action="append",
        choices=["asyncio", "uvloop", "trio"],
        help="tapster's event loop; repeat for several runs (default: asyncio)",
    )
    parser.add_argument(
        "--url", help="test an already running server (ws://host:port/) instead of starting tapster"
    )
    parser.add_argument("--out", type=Path, help="where the reports go (default .autobahn/reports/<loop>)")
    parser.add_argument("--timeout", type=float, help="seconds the whole wstest run may take")
    parser.add_argument(
        "--setup", action="store_true", help="only build (or check) the Python 2.7 wstest environment"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the per-section table as Markdown (for the docs)"
    )
    return parser.parse_args(argv)


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _table(run: Run, markdown: bool) -> str:
    header = ("section", "cases", *_COLUMNS, "close not OK", "s in cases", "s wall")
    rows = []
    for summary in summarize(run.results.values()):
        counts = Counter(summary.behaviors)
        other = sum(n for kind, n in counts.items() if kind not in _COLUMNS)
        row = [summary.section, str(summary.cases), *(str(counts[kind]) for kind in _COLUMNS)]
        row[-1] = str(counts["FAILED"] + other)  # any other verdict counts as FAILED
        wall = "?" if summary.wall_seconds is None else f"{summary.wall_seconds:.1f}"
        rows.append((*row, str(summary.close_failures), f"{summary.seconds:.1f}", wall))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in [header, *rows]
    ]
    return "\n".join(lines)


def _report(run: Run, loop: str, markdown: bool) -> bool:
    print(
        f"\n== {run.agent}: {len(run.results)} cases in {run.seconds:.0f} s (report: {run.outdir}/index.html)"
    )
    print(_table(run, markdown))
    not_ok = [case for case in run.results.values() if case.behavior != "OK" or case.behavior_close != "OK"]
    informational = [case for case in not_ok if case.passed]
    if informational:
        print(
            "INFORMATIONAL: "
            + ", ".join(f"{case.id} (close code {case.remote_close_code})" for case in informational)
        )
    verdict = judge(run.results)
    explanation = verdict.explain(ALLOWED)
    if explanation:
        print(explanation)
    passed = sum(case.passed for case in run.results.values())
    failed = len(run.results) - passed
    print(f"{loop}: {passed} passed, {failed} failed ({len(verdict.known)} of them allowlisted)")
    return verdict.ok


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        wstest = ensure_wstest()
    except AutobahnUnavailable as err:
        print(f"autobahn: {err}", file=sys.stderr)
        return 2
    if args.setup:
        print(f"autobahn: wstest ready ({wstest.python}, {wstest.site})")
        return 0
    cases = list(CI_CASES) if args.cases == "ci" else _split(args.cases)
    loops = args.loop or ["asyncio"]
    if args.url:
        loops = ["external"]
    ok = True
    for loop in loops:
        workdir = args.out / loop if args.out else autobahn_home() / "reports" / loop
        try:
            if args.url:
                run = run_fuzzingclient(
                    wstest,
                    args.url,
                    agent="server",
                    cases=cases,
                    exclude=_split(args.exclude),
                    workdir=workdir,
                    timeout=args.timeout,
                )
            else:
                with serving(_app.app, loop, **_app.SERVER_OPTIONS) as url:
                    run = run_fuzzingclient(
                        wstest,
                        url,
                        agent=f"tapster-{loop}",
                        cases=cases,
                        exclude=_split(args.exclude),
                        workdir=workdir,
                        timeout=args.timeout,
                    )
        except RuntimeError as err:
            print(f"autobahn: {err}", file=sys.stderr)
            return 2
        ok = _report(run, loop, args.markdown) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
