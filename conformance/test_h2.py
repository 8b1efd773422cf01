"""The HTTP/2 conformance suite (conformance/h2: h2spec's ground, 201 cases) against tapster, on
every backend, over h2c (prior knowledge) and TLS (ALPN), holding each case to its specific error
code (``strict_codes``: RFC 9113 §5.4 would let a generic code stand in; we do not take that)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from conftest import LOOPS, start_server

from .h2._app import app
from .h2.cases import CASES, Result, run_cases

TRANSPORTS = ["h2c", "tls"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("h2tls")
    certfile, keyfile, cafile = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    with open(certfile, "ab") as chain:
        for pem in cert.cert_chain_pems[1:]:
            chain.write(pem.bytes())
    ca.cert_pem.write_to_path(cafile)
    return certfile, keyfile, cafile


@pytest.fixture(scope="module", params=[(loop, t) for loop in LOOPS for t in TRANSPORTS], ids=str)
def results(request: pytest.FixtureRequest, certificate: tuple[Path, Path, Path]) -> dict[str, Result]:
    loop, transport = request.param
    certfile, keyfile, cafile = certificate
    tls = transport == "tls"
    options = {"certfile": str(certfile), "keyfile": str(keyfile)} if tls else {}
    running = start_server(app, loop, **options)
    try:
        found = run_cases(
            running.host, running.port, tls, cafile=str(cafile) if tls else None, strict_codes=True
        )
    finally:
        running.stop()
    return {result.id: result for result in found}


def test_the_suite_is_whole() -> None:
    assert len(CASES) >= 200
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id", [case.id for case in CASES])
def test_case(results: dict[str, Result], case_id: str) -> None:
    result = results[case_id]
    assert result.passed, f"{result.id} ({result.section}): {result.description}\n{result.detail}"
