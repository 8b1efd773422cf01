"""One fuzzingclient run against a server, and the verdict on it.

`run_fuzzingclient()` writes the spec, runs wstest, and reads the report back; `judge()` sorts the
cases into failures, known failures (the allowlist, `ALLOWED`) and allowlist entries that pass now.
The command line (`python -m conformance.autobahn`) and the pytest entry (`test_autobahn.py`) both use
these.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .allowlist import ALLOWED
from .report import CaseResult, load_results
from .wstest import Wstest, write_spec

__all__ = ["CI_CASES", "Run", "Verdict", "judge", "run_fuzzingclient", "serving"]

# What CI runs on asyncio and on trio (test_autobahn.py): the framing, pings, reserved bits, opcodes,
# fragmentation, UTF-8 and close sections whole, the auto-fragmentation case, and a slice of the
# permessage-deflate sections that keeps every kind of payload (12.1-12.5: JSON, a picture, German
# text, HTML, random bytes; default offer) and every negotiation (13.1-13.7: context takeover and
# window bits, alone and combined) at two sizes: 1000 messages of 16 B (x.x.1), then 1000 of 8 KiB
# in 256-octet fragments (x.x.11). The larger sizes of 12/13 and the 9.* performance cases are what
# makes the full run (`python -m conformance.autobahn`) last a quarter of an hour; these take 20-25 s.
CI_CASES = (
    *("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"),
    *(f"12.{kind}.{size}" for kind in range(1, 6) for size in (1, 11)),
    *(f"13.{offer}.{size}" for offer in range(1, 8) for size in (1, 11)),
)


@dataclass(frozen=True, slots=True)
class Run:
    agent: str
    results: dict[str, CaseResult]
    seconds: float  # wall time of the whole wstest run
    outdir: Path  # the report: index.html for a browser, index.json and one JSON file per case
    log: Path  # wstest's output


def run_fuzzingclient(
    wstest: Wstest,
    url: str,
    *,
    agent: str,
    cases: Sequence[str],
    workdir: Path,
    exclude: Sequence[str] = (),
    timeout: float | None = None,
) -> Run:
    """Run the fuzzing client against the WebSocket server at `url` (ws://host:port/)."""
    workdir.mkdir(parents=True, exist_ok=True)
    outdir = workdir / "reports"
    spec, log = workdir / "fuzzingclient.json", workdir / "wstest.log"
    write_spec(spec, url=url, agent=agent, outdir=outdir, cases=cases, exclude=exclude)
    (outdir / "index.json").unlink(missing_ok=True)
    started = time.monotonic()
    try:
        done = wstest.run_fuzzingclient(spec, cwd=workdir, log=log, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wstest did not finish within {timeout} s; its output: {log}") from None
    seconds = time.monotonic() - started
    if done.returncode or not (outdir / "index.json").is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"wstest exited {done.returncode} without a report; the end of {log}:\n{tail}")
    return Run(agent, load_results(outdir, agent), seconds, outdir, log)


@dataclass(frozen=True, slots=True)
class Verdict:
    failures: list[CaseResult] = field(default_factory=list)  # not OK, not allowlisted
    known: list[CaseResult] = field(default_factory=list)  # not OK, allowlisted
    # Allowlisted, but OK in this run. Not a failure: the known failures so far are races that a run
    # sometimes wins; an entry goes once its case passes on every loop, run after run.
    fixed: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def explain(self, allowed: Mapping[str, str] = ALLOWED) -> str:
        parts = [f"{len(self.failures)} case(s) failed:"] if self.failures else []
        parts += [failure.explain() for failure in self.failures]
        if self.fixed:
            ids = ", ".join(case.id for case in self.fixed)
            parts.append(
                f"allowlisted, but OK in this run: {ids} (once a case passes every run, remove it from "
                "conformance/autobahn/allowlist.py and docs/conformance.md)"
            )
        if self.known:
            parts.append(f"{len(self.known)} known failure(s), allowlisted:")
            parts += [f"  {case.id} ({case.verdict}): {allowed[case.id]}" for case in self.known]
        return "\n".join(parts)


def judge(results: Mapping[str, CaseResult], allowed: Mapping[str, str] = ALLOWED) -> Verdict:
    verdict = Verdict()
    for case in results.values():
        if case.passed and case.id in allowed:
            verdict.fixed.append(case)
        elif not case.passed:
            (verdict.known if case.id in allowed else verdict.failures).append(case)
    return verdict


@contextmanager
def serving(app: Any, loop: str, **options: Any) -> Iterator[str]:
    """tapster serving `app` on `loop` in a thread, on a free port of 127.0.0.1; yields its ws:// URL."""
    import tapster

    config = tapster.Config(binds=("127.0.0.1:0",), loop=loop, **options)
    server = tapster.Server(app, config)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            tapster.run(app, server=server, install_signals=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            errors.append(exc)
            server.started.set()

    thread = threading.Thread(target=target, name=f"tapster-{loop}", daemon=True)
    thread.start()
    if not server.started.wait(15) or errors:
        raise RuntimeError(f"tapster did not start on {loop}") from (errors[0] if errors else None)
    try:
        yield server.addresses[0].replace("http://", "ws://", 1)
    finally:
        server.shutdown()
        thread.join(15)
    if errors:
        raise errors[0]
