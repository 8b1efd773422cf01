"""bench/inprocess.py: every row's request is answered as bench/fw_apps says, and the bytecode count
(the deterministic measure the performance notes quote) counts what a request runs."""

from __future__ import annotations

import asyncio

import pytest

from bench import inprocess
from bench.fw_apps import REQUESTS


def test_firkin_answers_every_row_as_the_benchmark_expects() -> None:
    async def run() -> None:
        app = inprocess.load("firkin")
        async with inprocess.Lifespan(app) as lifespan:
            for row in REQUESTS.values():
                inprocess.check("firkin", row, await inprocess.request(app, row, lifespan.state))

    asyncio.run(run())


def test_the_bytecode_count_sees_the_view_and_grows_with_the_work(capsys: pytest.CaptureFixture[str]) -> None:
    # (--top 100: every function the first row runs is listed, the view with its two instructions too)
    argv = ["--bytecodes", "--frameworks", "firkin", "--routes", "plaintext,template", "--top", "100"]
    assert inprocess.main(argv) == 0
    out = capsys.readouterr().out
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "firkin":
            counts[parts[1]] = int(parts[2])
    assert 300 < counts["plaintext"] < counts["template"]
    assert "firkin_app.py:index" in out  # the view itself is among the counted functions
