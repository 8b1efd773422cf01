"""Malformed HTTP/1.1 requests and the status tapster must answer each with (then close the connection).

Every case is complete on the wire: a strict server can decide from the bytes alone, without waiting
for EOF or a timeout. Statuses follow RFC 9110/9112; the limits cases assume the default `Config`
(16 KiB head, 100 header fields). `test_malformed.py` runs the table against the sans-I/O core and
over real sockets on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CASES", "MalformedCase"]


@dataclass(frozen=True, slots=True)
class MalformedCase:
    id: str
    raw: bytes
    status: int
    reason: str


def _get(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> bytes:
    """A request head: `line`, then `fields` (each one raw header line without CRLF)."""
    return line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


def _post(*fields: bytes, body: bytes = b"") -> bytes:
    return _get(b"Host: example.com", *fields, line=b"POST /upload HTTP/1.1") + body


def _chunked(body: bytes) -> bytes:
    return _post(b"Transfer-Encoding: chunked", body=body)


_HOST = b"Host: example.com"

CASES: list[MalformedCase] = [
    # ---- message body framing, RFC 9112 §6 (request smuggling lives here)
    MalformedCase(
        "cl-and-te",
        _post(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        400,
        "RFC 9112 §6.1: Content-Length with Transfer-Encoding",
    ),
    MalformedCase(
        "te-and-cl",
        _post(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=b"0\r\n\r\n"),
        400,
        "RFC 9112 §6.1: Transfer-Encoding with Content-Length, other order",
    ),
    MalformedCase(
        "cl-duplicate-same",
        _post(b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
        400,
        "RFC 9112 §6.3: repeated Content-Length",
    ),
    MalformedCase(
        "cl-duplicate-different",
        _post(b"Content-Length: 5", b"Content-Length: 6", body=b"hello!"),
        400,
        "RFC 9112 §6.3: conflicting Content-Length",
    ),
    MalformedCase("cl-list", _post(b"Content-Length: 5, 5", body=b"hello"), 400, "RFC 9110 §8.6: list in CL"),
    MalformedCase("cl-non-digit", _post(b"Content-Length: abc"), 400, "RFC 9110 §8.6: 1*DIGIT"),
    MalformedCase("cl-negative", _post(b"Content-Length: -1"), 400, "RFC 9110 §8.6: no sign"),
    MalformedCase("cl-plus-sign", _post(b"Content-Length: +5", body=b"hello"), 400, "RFC 9110 §8.6: no sign"),
    MalformedCase("cl-hex", _post(b"Content-Length: 0x5", body=b"hello"), 400, "RFC 9110 §8.6: decimal"),
    MalformedCase("cl-empty", _post(b"Content-Length:"), 400, "RFC 9110 §8.6: at least one digit"),
    MalformedCase("cl-inner-space", _post(b"Content-Length: 1 0"), 400, "RFC 9110 §8.6: 1*DIGIT"),
    MalformedCase("cl-huge", _post(b"Content-Length: " + b"9" * 30), 400, "RFC 9112 §6.3: length overflow"),
    MalformedCase("te-gzip", _post(b"Transfer-Encoding: gzip"), 400, "RFC 9112 §6.1: chunked not final"),
    MalformedCase(
        "te-chunked-then-gzip",
        _post(b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
        400,
        "RFC 9112 §6.1: chunked not final",
    ),
    MalformedCase(
        "te-identity", _post(b"Transfer-Encoding: identity"), 400, "RFC 9112 §6.1: identity is not a coding"
    ),
    MalformedCase("te-empty", _post(b"Transfer-Encoding:"), 400, "RFC 9112 §6.1: chunked not final"),
    MalformedCase(
        "te-gzip-then-chunked",
        _post(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"),
        501,
        "RFC 9112 §6.1: a transfer coding we do not implement",
    ),
    MalformedCase(
        "te-chunked-twice",
        _post(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"),
        400,
        "RFC 9112 §7: chunked applied more than once",
    ),
    MalformedCase(
        "te-chunked-two-fields",
        _post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        400,
        "RFC 9112 §7: chunked applied more than once (across field lines)",
    ),
    MalformedCase(
        "te-http10",
        _get(_HOST, b"Transfer-Encoding: chunked", line=b"POST / HTTP/1.0") + b"0\r\n\r\n",
        400,
        "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing",
    ),
    # ---- chunked coding, RFC 9112 §7.1
    MalformedCase("chunk-size-non-hex", _chunked(b"zz\r\nhello\r\n0\r\n\r\n"), 400, "chunk-size = 1*HEXDIG"),
    MalformedCase("chunk-size-too-long", _chunked(b"1" * 17 + b"\r\nx\r\n0\r\n\r\n"), 400, "size overflow"),
    MalformedCase("chunk-size-missing", _chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, "empty chunk-size"),
    MalformedCase("chunk-size-negative", _chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, "chunk-size = 1*HEXDIG"),
    MalformedCase("chunk-size-0x", _chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, "chunk-size = 1*HEXDIG"),
    MalformedCase("chunk-size-space", _chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, "whitespace after size"),
    MalformedCase("chunk-size-bare-lf", _chunked(b"5\nhello\r\n0\r\n\r\n"), 400, "chunk line ends with LF"),
    MalformedCase("chunk-data-no-crlf", _chunked(b"5\r\nhelloXX0\r\n\r\n"), 400, "CRLF after chunk-data"),
    MalformedCase("chunk-data-too-long", _chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400, "more data than size"),
    MalformedCase("chunk-data-bare-lf", _chunked(b"5\r\nhello\n0\r\n\r\n"), 400, "LF alone after chunk-data"),
    MalformedCase("chunk-ext-no-name", _chunked(b"5;=x\r\nhello\r\n0\r\n\r\n"), 400, "chunk-ext-name"),
    MalformedCase(
        "chunk-ext-oversized",
        _chunked(b"1;a=" + b"b" * 5000 + b"\r\nx\r\n0\r\n\r\n"),
        400,
        "chunk extensions over the limit (CVE-2024-22019)",
    ),
    MalformedCase(
        "chunk-ext-many",
        _chunked(b"".join(b"1;" + b"e" * 100 + b"\r\nx\r\n" for _ in range(60)) + b"0\r\n\r\n"),
        400,
        "chunk extensions summed over the body exceed the limit",
    ),
    MalformedCase(
        "trailer-obs-fold", _chunked(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400, "RFC 9112 §5.2 applies to trailers"
    ),
    MalformedCase("trailer-no-colon", _chunked(b"0\r\nX-T\r\n\r\n"), 400, "trailer field line without colon"),
    # ---- field syntax, RFC 9112 §5 and RFC 9110 §5.5
    MalformedCase("obs-fold-space", _get(_HOST, b"X-A: one", b" two"), 400, "RFC 9112 §5.2: obs-fold"),
    MalformedCase("obs-fold-tab", _get(_HOST, b"X-A: one", b"\ttwo"), 400, "RFC 9112 §5.2: obs-fold"),
    MalformedCase("space-before-colon", _get(b"Host : example.com"), 400, "RFC 9112 §5.1: MUST reject"),
    MalformedCase("tab-before-colon", _get(_HOST, b"X-A\t: b"), 400, "RFC 9112 §5.1: MUST reject"),
    MalformedCase("space-in-name", _get(_HOST, b"X A: b"), 400, "field-name = token"),
    MalformedCase("empty-name", _get(_HOST, b": b"), 400, "field-name = token"),
    MalformedCase("no-colon", _get(_HOST, b"X-A"), 400, "field line without a colon"),
    MalformedCase("name-separator", _get(_HOST, b"X(A): b"), 400, "field-name = token; '(' is no tchar"),
    MalformedCase("name-non-ascii", _get(_HOST, b"X-\xc3\xa9: b"), 400, "field-name = token"),
    MalformedCase("nul-in-name", _get(_HOST, b"X-\x00A: b"), 400, "NUL in a field name"),
    MalformedCase("ctl-in-name", _get(_HOST, b"X-\x01A: b"), 400, "CTL in a field name"),
    MalformedCase("nul-in-value", _get(_HOST, b"X-A: a\x00b"), 400, "RFC 9110 §5.5: NUL MUST be rejected"),
    MalformedCase("ctl-in-value", _get(_HOST, b"X-A: a\x01b"), 400, "field-vchar excludes CTLs"),
    MalformedCase("esc-in-value", _get(_HOST, b"X-A: a\x1bb"), 400, "field-vchar excludes CTLs"),
    MalformedCase("del-in-value", _get(_HOST, b"X-A: a\x7fb"), 400, "field-vchar excludes DEL"),
    MalformedCase("vt-in-value", _get(_HOST, b"X-A: a\x0bb"), 400, "field-vchar excludes VT"),
    # ---- line endings, RFC 9112 §2.2
    MalformedCase(
        "bare-lf-request-line", b"GET / HTTP/1.1\nHost: example.com\r\n\r\n", 400, "request line ends in LF"
    ),
    MalformedCase("bare-lf-header", _get(b"Host: example.com\nX-A: b"), 400, "header line ends in LF"),
    MalformedCase("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: example.com\n\n", 400, "LF-only head"),
    MalformedCase("bare-lf-before-request", b"\n" + _get(_HOST), 400, "only CRLF may precede the line"),
    MalformedCase(
        "bare-cr-request-line", b"GET / HTTP/1.1\rHost: example.com\r\n\r\n", 400, "bare CR in request line"
    ),
    MalformedCase("bare-cr-header", _get(_HOST, b"X-A: a\rb"), 400, "bare CR in a field value"),
    MalformedCase("bare-cr-before-request", b"\r\r\n" + _get(_HOST), 400, "bare CR before the request line"),
    # ---- request line, RFC 9112 §3
    MalformedCase("method-separator", _get(_HOST, line=b"G(T / HTTP/1.1"), 400, "method = token"),
    MalformedCase("method-nul", _get(_HOST, line=b"GE\x00T / HTTP/1.1"), 400, "method = token"),
    MalformedCase("method-non-ascii", _get(_HOST, line=b"G\xc3\x89T / HTTP/1.1"), 400, "method = token"),
    MalformedCase("method-empty", _get(_HOST, line=b" / HTTP/1.1"), 400, "method = token"),
    MalformedCase("leading-space", _get(_HOST, line=b" GET / HTTP/1.1"), 400, "whitespace before method"),
    MalformedCase("double-space", _get(_HOST, line=b"GET  / HTTP/1.1"), 400, "exactly one SP"),
    MalformedCase("trailing-space", _get(_HOST, line=b"GET / HTTP/1.1 "), 400, "nothing after version"),
    MalformedCase("tab-separator", _get(_HOST, line=b"GET\t/\tHTTP/1.1"), 400, "SP, not HTAB"),
    MalformedCase("no-version", _get(_HOST, line=b"GET /"), 400, "HTTP/0.9 simple request"),
    MalformedCase(
        "version-lowercase", _get(_HOST, line=b"GET / http/1.1"), 400, "HTTP-name is case-sensitive"
    ),
    MalformedCase("version-no-minor", _get(_HOST, line=b"GET / HTTP/1"), 400, "HTTP-version = DIGIT.DIGIT"),
    MalformedCase("version-two-digits", _get(_HOST, line=b"GET / HTTP/11.1"), 400, "one digit each"),
    MalformedCase("version-2.0", _get(_HOST, line=b"GET / HTTP/2.0"), 505, "RFC 9110 §15.6.6"),
    MalformedCase("version-3.0", _get(_HOST, line=b"GET / HTTP/3.0"), 505, "RFC 9110 §15.6.6"),
    MalformedCase("version-0.9", _get(_HOST, line=b"GET / HTTP/0.9"), 505, "RFC 9110 §15.6.6"),
    MalformedCase(
        "target-fragment", _get(_HOST, line=b"GET /a#b HTTP/1.1"), 400, "RFC 9112 §3.2: no fragment"
    ),
    MalformedCase(
        "target-non-ascii", _get(_HOST, line=b"GET /\xc3\xa9 HTTP/1.1"), 400, "RFC 3986 chars only"
    ),
    MalformedCase("target-ctl", _get(_HOST, line=b"GET /a\x01b HTTP/1.1"), 400, "RFC 3986 chars only"),
    MalformedCase("target-del", _get(_HOST, line=b"GET /a\x7fb HTTP/1.1"), 400, "RFC 3986 chars only"),
    MalformedCase("target-relative", _get(_HOST, line=b"GET a/b HTTP/1.1"), 400, "not one of the four forms"),
    MalformedCase(
        "absolute-bad-scheme", _get(_HOST, line=b"GET ftp://example.com/ HTTP/1.1"), 400, "only http(s)"
    ),
    MalformedCase(
        "absolute-javascript", _get(_HOST, line=b"GET javascript:alert(1) HTTP/1.1"), 400, "only http(s)"
    ),
    MalformedCase(
        "absolute-empty-host", _get(_HOST, line=b"GET http:/// HTTP/1.1"), 400, "RFC 9110 §4.2.1: empty host"
    ),
    MalformedCase(
        "authority-form-get", _get(_HOST, line=b"GET example.com:80 HTTP/1.1"), 400, "only CONNECT uses it"
    ),
    MalformedCase(
        "connect", _get(_HOST, line=b"CONNECT example.com:443 HTTP/1.1"), 501, "not a proxy: CONNECT"
    ),
    MalformedCase(
        "connect-origin-form", _get(_HOST, line=b"CONNECT / HTTP/1.1"), 501, "not a proxy: CONNECT"
    ),
    MalformedCase("asterisk-get", _get(_HOST, line=b"GET * HTTP/1.1"), 400, "RFC 9112 §3.2.4: OPTIONS only"),
    # ---- Host, RFC 9112 §3.2 / RFC 9110 §7.2
    MalformedCase("host-missing", _get(b"X-A: b"), 400, "RFC 9112 §3.2: HTTP/1.1 without Host"),
    MalformedCase("host-duplicate", _get(_HOST, b"Host: example.org"), 400, "RFC 9112 §3.2: two Hosts"),
    MalformedCase("host-same-twice", _get(_HOST, _HOST), 400, "RFC 9112 §3.2: two Hosts"),
    MalformedCase("host-space", _get(b"Host: exa mple.com"), 400, "RFC 9112 §3.2: invalid Host"),
    MalformedCase("host-slash", _get(b"Host: example.com/evil"), 400, "RFC 9112 §3.2: invalid Host"),
    MalformedCase("host-userinfo", _get(b"Host: user@example.com"), 400, "RFC 9112 §3.2: invalid Host"),
    MalformedCase("host-bad-port", _get(b"Host: example.com:http"), 400, "RFC 9112 §3.2: invalid Host"),
    MalformedCase("host-open-bracket", _get(b"Host: [::1"), 400, "RFC 9112 §3.2: invalid Host"),
    # ---- expectations, RFC 9110 §10.1.1
    MalformedCase("expect-other", _get(_HOST, b"Expect: something-else"), 417, "only 100-continue"),
    MalformedCase("expect-list", _get(_HOST, b"Expect: 100-continue, x"), 417, "only 100-continue"),
    # ---- limits (default Config: 16 KiB head, 100 fields)
    MalformedCase(
        "request-line-too-long",
        _get(_HOST, line=b"GET /" + b"a" * (20 * 1024) + b" HTTP/1.1"),
        414,
        "request line over the head limit",
    ),
    MalformedCase(
        "head-too-large",
        _get(_HOST, *(b"X-Filler-%d: %s" % (i, b"v" * 300) for i in range(60))),
        431,
        "header block over 16 KiB",
    ),
    MalformedCase("header-value-huge", _get(_HOST, b"X-Big: " + b"v" * 17000), 431, "one field over 16 KiB"),
    MalformedCase(
        "too-many-headers",
        _get(_HOST, *(b"X-H%d: v" % i for i in range(100))),
        431,
        "101 header fields (limit 100)",
    ),
]
