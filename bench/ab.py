"""A/B: the same app on tapster from two revisions, interleaved, to tell a few per cent apart.

    python bench/ab.py BASE [OTHER] [--app MODULE:APP] [--path /user/123] [--rounds 12] [--duration 2]

BASE and OTHER are git revisions (OTHER defaults to the working tree, ``.``). Each revision other
than the working tree is checked out into a temporary ``git worktree``; its ``packages/*/src`` go
first on the server's ``PYTHONPATH`` (checked before measuring), so its tapster and firkin are the
ones that run. Both servers run at once, pinned to CPU 0 (only one is under load at a time), and
``wrk`` on CPU 1 alternates between them for ``--rounds`` pairs of ``--duration`` seconds, the order
flipped every round.

Why this and not two runs of ``bench/frameworks.py``: on a shared machine the same build's median
moves by about ±5 % between runs a few minutes apart, so 3 % changes drown. Short alternating runs put
the drift on both sides of every pair. The report is the median req/s of each side, the ratio of the
medians and the median (with the range) of the per-pair ratios OTHER / BASE.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOST,
    ROOT,
    SERVER_CPU,
    Row,
    check_tools,
    free_port,
    install_signal_handlers,
    kill_all,
    parse_wrk,
    run_wrk,
    spawn,
    wait_until_serving,
    wrk_argv,
)


@contextlib.contextmanager
def source_tree(revision: str) -> Iterator[Path]:
    """The working tree for ".", else a temporary worktree of `revision` (removed afterwards)."""
    if revision == ".":
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="tapster-ab-") as parent:
        tree = Path(parent) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), revision], cwd=ROOT, check=True
        )
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def python_path(tree: Path) -> str:
    return ":".join(str(p) for p in (tree / "packages/tapster/src", tree / "packages/firkin/src", tree))


def check_imports(tree: Path) -> None:
    """Refuse to measure if the server would import tapster or firkin from elsewhere."""
    code = "import firkin, tapster; print(firkin.__file__); print(tapster.__file__)"
    out = subprocess.run(
        ["env", f"PYTHONPATH={python_path(tree)}", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    ).stdout.split()
    for path in out:
        if not Path(path).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"{path} is not from {tree}: the comparison would not be of that revision")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="git revision A")
    parser.add_argument("other", nargs="?", default=".", help="git revision B (default: the working tree)")
    parser.add_argument("--app", default="bench.fw_apps.firkin_app:app")
    parser.add_argument("--path", default="/user/123")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if (status := check_tools("bench/ab.py", "./dev bench")) != 0:
        return status
    install_signal_handlers()
    row = Row("ab", args.path, None)
    logdir = Path(tempfile.mkdtemp(prefix="tapster-ab-logs-"))
    try:
        with source_tree(args.base) as base_tree, source_tree(args.other) as other_tree:
            ports = []
            for name, tree in (("base", base_tree), ("other", other_tree)):
                check_imports(tree)
                port = free_port()
                argv = ["env", f"PYTHONPATH={python_path(tree)}", "taskset", "-c", SERVER_CPU, sys.executable]
                argv += ["-m", "tapster", args.app, "--bind", f"{HOST}:{port}", "--loop", "uvloop"]
                argv += ["--no-access-log", "--log-level", "warning"]
                log_path = logdir / f"{name}.log"
                with log_path.open("w") as log:
                    server = spawn(argv, log)
                wait_until_serving(server, port, log_path)
                ports.append(port)
            for port in ports:  # warm-up, not measured
                run_wrk(wrk_argv(port, row, 1, args.connections, {}), 1)
            rates: tuple[list[float], list[float]] = ([], [])
            for round_no in range(args.rounds):
                order = (0, 1) if round_no % 2 == 0 else (1, 0)
                for side in order:
                    result = parse_wrk(
                        run_wrk(
                            wrk_argv(ports[side], row, args.duration, args.connections, {}), args.duration
                        )
                    )
                    if result.socket_errors or result.non_2xx:
                        raise SystemExit(f"errors under load: {result}; logs in {logdir}")
                    rates[side].append(result.req_per_s)
    finally:
        kill_all()
    pairs = [b / a for a, b in zip(*rates, strict=True)]
    for label, values in (("base ", rates[0]), ("other", rates[1])):
        print(
            f"{label} median {statistics.median(values):8.0f} req/s  ({' '.join(f'{v:.0f}' for v in values)})"
        )
    print(
        f"other / base: ratio of medians {statistics.median(rates[1]) / statistics.median(rates[0]):.3f}, "
        f"median of pairs {statistics.median(pairs):.3f} (pairs {min(pairs):.3f}..{max(pairs):.3f}), "
        f"{args.rounds} rounds of {args.duration:g} s on {args.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
