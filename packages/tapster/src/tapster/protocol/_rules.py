"""Grammar of RFC 9110/9112 as compiled regular expressions, and the limits' data class.

The fast path validates a whole request head with two C-level regex calls; only a rejected head takes
the slow path in `diagnose_fields`, which walks it line by line to say precisely what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["H11Limits"]


@dataclass(frozen=True, slots=True)
class H11Limits:
    """Bounds on what one HTTP/1.1 connection will read. Precedents for the defaults: Node.js allows a
    16 KiB head, Apache 8 KiB per line and 100 fields, nginx 1 KiB + 4 x 8 KiB, Tomcat 8 KiB."""

    max_head_size: int = 16 * 1024  # bytes: request line + all header lines (431; 414 if the line alone)
    max_headers: int = 100  # header (and trailer) field lines (431)
    max_chunk_extensions: int = 4 * 1024  # bytes of chunk-ext summed over one body (CVE-2024-22019)
    max_pipelined: int = 64 * 1024  # bytes buffered beyond the current request (flow control)


@dataclass(frozen=True, slots=True)
class H2Limits:
    """Bounds of one HTTP/2 connection. Precedents: nginx allows 128 concurrent streams and a 32 KiB
    header list by default, Go and h2o 100 streams and 1 MiB / 64 KiB lists; nginx's rapid-reset fix
    refuses new streams past a budget, Go's and h2o's answer with GOAWAY."""

    max_concurrent_streams: int = 100  # SETTINGS_MAX_CONCURRENT_STREAMS; more -> REFUSED_STREAM
    max_header_list_size: int = 64 * 1024  # SETTINGS_MAX_HEADER_LIST_SIZE, bytes decoded; CONTINUATION too
    stream_window: int = 64 * 1024  # bytes of request body a client may send ahead of the app
    max_resets: int = 200  # client RST_STREAMs in a burst ...
    resets_per_second: float = 20.0  # ... then this many a second, or GOAWAY ENHANCE_YOUR_CALM
    max_control_frames: int = 1000  # SETTINGS/PING/PRIORITY/WINDOW_UPDATE/empty DATA in a burst ...
    control_frames_per_second: float = 200.0  # ... then this many a second
    enable_connect_protocol: bool = True  # RFC 8441: WebSockets over HTTP/2


# RFC 9110 §5.6.2: token = 1*tchar
TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
TOKEN_RE = re.compile(rb"[" + TCHAR + rb"]+")

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version. The target is checked for
# visible ASCII only (no SP, CTL, obs-text or "#"); its form is decided afterwards.
REQUEST_LINE_RE = re.compile(rb"([" + TCHAR + rb"]+) ([\x21\x22\x24-\x7e]+) HTTP/([0-9])\.([0-9])")

# RFC 9110 §5.5: field-value = *field-content; field-vchar = VCHAR / obs-text; HTAB and SP inside.
# A field line is `name ":" OWS value OWS`; no whitespace before the colon (RFC 9112 §5.1), no obs-fold
# (§5.2: a line may not start with SP/HTAB, which the name's tchar class already forbids).
_FIELD_LINE = rb"\r\n[" + TCHAR + rb"]+:[\t\x20-\x7e\x80-\xff]*"
FIELDS_RE = re.compile(rb"(?:" + _FIELD_LINE + rb")*")
# The common case in one call: a whole head (request line and header block) that is valid;
# groups: method, target, major, minor, header block. A head it rejects takes the slow path.
HEAD_RE = re.compile(
    rb"([" + TCHAR + rb"]+) ([\x21\x22\x24-\x7e]+) HTTP/([0-9])\.([0-9])((?:" + _FIELD_LINE + rb")*)"
)
# Only ever run on a block that FIELDS_RE accepted. Values keep their OWS, stripped by the caller:
# a regex that strips it backtracks quadratically on long runs of inner whitespace.
FIELD_RE = re.compile(rb"\r\n([^:]+):([^\r]*)")

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS val ] )
_QUOTED = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
_TOKEN = rb"[" + TCHAR + rb"]+"
CHUNK_LINE_RE = re.compile(
    rb"([0-9A-Fa-f]{1,16})((?:[\t ]*;[\t ]*"
    + _TOKEN
    + rb"(?:[\t ]*=[\t ]*(?:"
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb"))?)*)"
)

# RFC 9110 §7.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ]; empty is allowed.
HOST_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?")
CONTENT_LENGTH_RE = re.compile(rb"[0-9]{1,18}")
BASE64URL_RE = re.compile(rb"[A-Za-z0-9_\-]*={0,2}")  # RFC 4648 §5 (HTTP2-Settings, RFC 7540 §3.2.1)
ABSOLUTE_FORM_RE = re.compile(rb"([A-Za-z][A-Za-z0-9+\-.]*)://([^/?]+)([^?]*)(?:\?(.*))?", re.DOTALL)

# What an application may put in a response header (response splitting: no CR, LF, NUL or other CTL).
BAD_VALUE_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# The memories of values already checked (response header names and values, Host values): at most
# MEMO_ENTRIES each, and a value is kept only if it is at most MEMO_VALUE_LENGTH bytes. They only
# save work, so the bounds are fixed rather than configured.
MEMO_ENTRIES = 256
MEMO_VALUE_LENGTH = 64
# Header names whose values are secrets (RFC 7541 §7.1.3): never kept in a memory of checked values.
SENSITIVE_NAMES = frozenset((b"set-cookie", b"cookie", b"authorization", b"proxy-authorization"))


def diagnose_request_line(line: bytes) -> str:
    """Say what is wrong with a request line REQUEST_LINE_RE rejected (slow path, errors only)."""
    parts = line.split(b" ")
    if len(parts) != 3:
        return "request line must be 'METHOD SP target SP HTTP/x.y' with single spaces"
    method, target, version = parts
    if not TOKEN_RE.fullmatch(method):
        return "invalid method token"
    if not re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version):
        return "invalid HTTP version"
    if b"#" in target:
        return "fragment ('#') not allowed in the request target"
    return "invalid character in the request target"


def diagnose_fields(block: bytes) -> str:
    """Say what is wrong with a header block FIELDS_RE rejected (slow path, errors only)."""
    for line in block.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            return "obs-fold (a header line starting with whitespace) is not allowed"
        name, colon, value = line.partition(b":")
        if not colon:
            return "header line without a colon"
        if name != name.rstrip(b" \t"):
            return "whitespace between header name and colon is not allowed"
        if not TOKEN_RE.fullmatch(name):
            return "invalid character in header name"
        if b"\r" in value or b"\n" in value:
            return "bare CR or LF in header value"
        if BAD_VALUE_RE.search(value):
            return "control character in header value"
    return "malformed header block"
