"""python -m conformance.h2 --host 127.0.0.1 --port N [--tls [--insecure | --cafile CA]] [--only PATTERN]

Runs the HTTP/2 conformance cases against a running server and prints one line per case, then a
summary line; exits 1 if any case failed, 2 if the server cannot be reached at all.
"""

from __future__ import annotations

import argparse
import sys

from .cases import Result, run_cases, select
from .client import Target

_DESCRIPTION = "Runs the HTTP/2 conformance cases against a running server."


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance.h2", description=_DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="required unless --list")
    parser.add_argument(
        "--tls", action="store_true", help="TLS with ALPN h2 (default: cleartext, prior knowledge)"
    )
    parser.add_argument("--insecure", action="store_true", help="with --tls: do not verify the certificate")
    parser.add_argument("--cafile", help="with --tls: CA bundle to verify the server's certificate with")
    parser.add_argument(
        "--only", help='case ids: prefixes or globs, comma-separated ("http2/6.1", "hpack", "*/5.1/*")'
    )
    parser.add_argument(
        "--strict-codes",
        action="store_true",
        help="demand each case's specific error code, not PROTOCOL_ERROR/INTERNAL_ERROR in its place "
        "(which RFC 9113 §5.4 allows)",
    )
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for each expected frame (2)"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the cases (id, section, description, expected)"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="with --list: as a Markdown table (README.md's)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also print the notes of passing cases")
    args = parser.parse_args(argv)
    if not args.list and not args.port:
        parser.error("--port is required")
    return args


def _line(result: Result, verbose: bool) -> str:
    verdict = "SKIP" if result.skipped else "PASS" if result.passed else "FAIL"
    line = f"{verdict} {result.id:<26} {result.section:<16} {result.description}"
    if result.detail and (not result.passed or result.skipped or verbose):
        line += f"\n     -> {result.detail}"
    return line


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.list:
        if args.markdown:
            print("| id | section | sends | expected |\n| --- | --- | --- | --- |")
        for item in select(args.only):
            if args.markdown:
                print(f"| `{item.id}` | {item.section} | {item.description} | {item.expected} |")
            else:
                print(f"{item.id:<26} {item.section:<16} {item.description}  =>  {item.expected}")
        return 0
    target = Target(args.host, args.port, tls=args.tls, insecure=args.insecure, cafile=args.cafile)
    try:
        target.connect()
    except Exception as err:  # noqa: BLE001 - any failure to reach the server ends the run the same way
        print(f"cannot start an HTTP/2 connection to {target.authority}: {err}", file=sys.stderr)
        return 2
    finally:
        target.close_all()

    results = run_cases(
        args.host,
        args.port,
        args.tls,
        args.only,
        insecure=args.insecure,
        cafile=args.cafile,
        timeout=args.timeout,
        strict_codes=args.strict_codes,
        report=lambda result: print(_line(result, args.verbose), flush=True),
    )
    failed = sum(not r.passed for r in results)
    skipped = sum(r.skipped for r in results)
    passed = len(results) - failed - skipped
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
