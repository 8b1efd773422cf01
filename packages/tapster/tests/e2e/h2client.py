"""A small blocking HTTP/2 client on the `h2` library, for tests that need control no HTTP client
library gives: many streams at once, windows held shut, resets, extended CONNECT (RFC 8441)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings


class _Client(h2.connection.H2Connection):
    """h2's client, reading responses that finish after a GOAWAY as RFC 9113 §6.8 allows (h2
    itself stops reading at the GOAWAY)."""

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class _UnlimitedClient(_Client):
    """A client that ignores the server's SETTINGS_MAX_CONCURRENT_STREAMS, as a hostile one would."""

    @property
    def open_outbound_streams(self) -> int:
        h2.connection.H2Connection.open_outbound_streams.fget(self)  # type: ignore[attr-defined]
        return 0


@dataclass
class Response:
    stream_id: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    informational: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None  # the RST_STREAM error code, if the server reset the stream

    @property
    def status(self) -> int:
        return int(dict(self.headers)[b":status"])

    @property
    def done(self) -> bool:
        return self.ended or self.reset is not None


class H2Client:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        window: int | None = None,
        auto_ack: bool = True,
        settings: dict[int, int] | None = None,
        raw_headers: bool = False,
        ignore_stream_limit: bool = False,
        before: bytes = b"",
    ) -> None:
        raw = socket.create_connection((host, port), timeout=5)
        raw.sendall(before)  # what precedes TLS and HTTP/2 on the wire (a PROXY protocol header)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            self.sock: socket.socket = tls.wrap_socket(raw, server_hostname=host)
            assert isinstance(self.sock, ssl.SSLSocket)
            self.alpn = self.sock.selected_alpn_protocol()
        else:
            self.sock = raw
            self.alpn = None
        # raw_headers: send header blocks exactly as given (to test how malformed ones are answered).
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=not raw_headers,
            normalize_outbound_headers=not raw_headers,
        )
        kind = _UnlimitedClient if ignore_stream_limit else _Client
        self.conn = kind(config)
        initial: dict[Any, int] = dict(settings or {})
        if window is not None:
            initial[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = window
        self.conn.initiate_connection()
        if initial:
            self.conn.update_settings(initial)
        self.auto_ack = auto_ack  # give flow-control credit back as data arrives
        self.responses: dict[int, Response] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.remote_settings: dict[int, int] = {}
        self.events: list[h2.events.Event] = []  # every event, in order
        self.closed = False
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(
        self,
        path: str = "/",
        method: str = "GET",
        body: bytes | None = None,
        headers: list[tuple[str, str]] | None = None,
        *,
        end: bool = True,
        authority: str = "localhost",
        protocol: str | None = None,
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        pseudo = [(":method", method)]
        if protocol is not None:
            pseudo.append((":protocol", protocol))
        pseudo += [(":scheme", "http"), (":path", path), (":authority", authority)]
        self.conn.send_headers(sid, pseudo + (headers or []), end_stream=end and not body)
        self.responses[sid] = Response(sid)
        if body:
            self.send(sid, body, end=end)
        self.flush()
        return sid

    def send(self, sid: int, data: bytes | bytearray, *, end: bool = False) -> None:
        """Send `data` on `sid`, waiting for window as needed."""
        view = memoryview(data)
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.read_some()
                continue
            chunk, view = view[:window], view[window:]
            self.conn.send_data(sid, bytes(chunk), end_stream=end and not view)
            self.flush()
        if end and not data:
            self.conn.end_stream(sid)
        self.flush()

    def reset(self, sid: int, code: int = 8) -> None:
        self.conn.reset_stream(sid, code)
        self.flush()

    def read_some(self, timeout: float = 5.0) -> list[h2.events.Event]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        self.events += events
        for event in events:
            sid = getattr(event, "stream_id", 0)
            response = self.responses.get(sid)
            if isinstance(event, h2.events.ResponseReceived) and response is not None:
                response.headers = list(event.headers)
            elif isinstance(event, h2.events.InformationalResponseReceived) and response is not None:
                response.informational.append(list(event.headers))
            elif isinstance(event, h2.events.TrailersReceived) and response is not None:
                response.trailers = list(event.headers)
            elif isinstance(event, h2.events.DataReceived) and response is not None:
                response.body += event.data
                if self.auto_ack:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.StreamEnded) and response is not None:
                response.ended = True
            elif isinstance(event, h2.events.StreamReset) and response is not None:
                response.reset = int(event.error_code)
            elif isinstance(event, h2.events.PushedStreamReceived) and event.pushed_stream_id:
                self.responses[event.pushed_stream_id] = Response(event.pushed_stream_id)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                for code, change in event.changed_settings.items():
                    self.remote_settings[int(code)] = change.new_value
        self.flush()
        return events

    def wait(self, sid: int, timeout: float = 5.0) -> Response:
        """Read until stream `sid` ends or is reset."""
        response = self.responses[sid]
        while not response.done:
            if not self.read_some(timeout) and self.closed:
                raise ConnectionError(f"connection closed before stream {sid} finished")
        return response

    def get(self, path: str = "/", **kwargs: Any) -> Response:
        return self.wait(self.request(path, **kwargs))

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self.flush()
        except OSError:
            pass
        self.sock.close()
