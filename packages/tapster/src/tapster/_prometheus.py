"""The Prometheus endpoint (`--metrics-bind`): tapster's counters, exposed with prometheus_client.

The counters are kept by the driver (`asgi._observe.RequestMetrics`, plain ints); the gauges are
counted from the live connections at scrape time, so neither costs a request anything more. The
endpoint is a small ASGI app that tapster serves on its own listener, on the server's event loop:
a scrape reads the numbers on the thread that changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client.registry import Collector as _CollectorBase

    from .asgi._observe import RequestMetrics
    from .asgi._state import ServerState
    from .asgi._types import Message, Receive, Scope, Send
else:
    _CollectorBase = object

__all__ = ["Census", "MetricsApp", "TapsterCollector", "census_of", "require_prometheus_client"]


def require_prometheus_client() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigError("--metrics-bind needs prometheus_client: pip install 'tapster[metrics]'") from None


Census = tuple[int, int, int, int]  # connections, HTTP/2 streams, websockets, app calls running


def census_of(state: ServerState) -> Census:
    """The gauges of one server, counted from its live connections."""
    streams = websockets = running = 0
    connections = list(state.connections)
    for conn in connections:
        conn_streams, conn_websockets, conn_running = conn.census()
        streams += conn_streams
        websockets += conn_websockets
        running += conn_running
    return len(connections), streams, websockets, running


class TapsterCollector(_CollectorBase):
    """Yields tapster's metrics at each scrape (a prometheus_client custom collector). `census`
    gives the gauges; `workers`, when given, is the supervisor's count of worker processes."""

    def __init__(
        self, metrics: RequestMetrics, census: Callable[[], Census], workers: Callable[[], int] | None = None
    ) -> None:
        self.metrics = metrics
        self.census = census
        self.workers = workers

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        from .asgi._observe import DURATION_BUCKETS

        metrics = self.metrics
        requests = CounterMetricFamily(
            "tapster_requests",
            "Requests answered (WebSocket handshakes included), by method and status class.",
            labels=["method", "status"],
        )
        for (method, status), count in sorted(metrics.requests.items()):
            requests.add_metric([method, status], count)
        yield requests

        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*map(str, DURATION_BUCKETS), "+Inf"), metrics.duration_buckets, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "tapster_request_duration_seconds",
            "Time from the request head to the end of the response (to the handshake's answer for "
            "a WebSocket).",
            buckets=buckets,
            sum_value=metrics.duration_sum,
        )

        connections, streams, websockets, running = self.census()
        yield GaugeMetricFamily(
            "tapster_open_connections", "Client connections open (HTTP/1.1 and HTTP/2).", value=connections
        )
        yield GaugeMetricFamily(
            "tapster_active_websockets", "WebSockets accepted and not closed yet.", value=websockets
        )
        yield GaugeMetricFamily("tapster_active_http2_streams", "HTTP/2 streams open.", value=streams)
        yield GaugeMetricFamily(
            "tapster_requests_in_flight", "App calls running (requests and WebSockets).", value=running
        )
        if self.workers is not None:
            yield GaugeMetricFamily("tapster_workers", "Worker processes running.", value=self.workers())
        yield CounterMetricFamily(
            "tapster_worker_restarts",
            "Workers the supervisor started again after one exited.",
            value=metrics.worker_restarts,
        )


class MetricsApp:
    """ASGI app for the metrics listener: `GET /metrics` answers the Prometheus text format (the
    OpenMetrics one when the scraper asks for it); the process's default prometheus_client
    registry (process_*, python_*, and what the app registers there) follows tapster's metrics."""

    def __init__(self, metrics: RequestMetrics, state: ServerState) -> None:
        from prometheus_client import REGISTRY, CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(TapsterCollector(metrics, lambda: census_of(state)))
        self.default_registry = REGISTRY

    def render(self, accept: str) -> tuple[bytes, str]:
        from prometheus_client import exposition

        encoder, content_type = exposition.choose_encoder(accept)
        if "openmetrics" in content_type:
            # One document: OpenMetrics ends with a single "# EOF".
            own = encoder(self.registry).removesuffix(b"# EOF\n")
            return own + encoder(self.default_registry), content_type
        return encoder(self.registry) + encoder(self.default_registry), content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return  # (not run: the metrics listener has no lifespan)
        if scope["type"] != "http":
            await send({"type": "websocket.close"})
            return
        if scope["path"] != "/metrics":
            await _plain(send, 404, b"not found: metrics are served on /metrics\n")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed: GET /metrics\n", [(b"allow", b"GET, HEAD")])
            return
        accept = ""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
        body, content_type = self.render(accept)
        message: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type.encode("latin-1"))],
        }
        await send(message)
        await send({"type": "http.response.body", "body": body})


async def _plain(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})
