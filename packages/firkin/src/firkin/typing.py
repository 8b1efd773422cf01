"""Type aliases for firkin apps and the ASGI interface."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from werkzeug.datastructures import Headers

if TYPE_CHECKING:
    from .wrappers import Response

__all__ = [
    "ASGIReceive",
    "ASGIScope",
    "ASGISend",
    "ResponseReturnValue",
    "ResponseValue",
    "StatusCode",
]

ASGIScope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[ASGIMessage]]
ASGISend = Callable[[ASGIMessage], Awaitable[None]]

StatusCode = int
HeaderValue: TypeAlias = "str | list[str] | tuple[str, ...]"
HeadersValue: TypeAlias = "Headers | Mapping[str, HeaderValue] | Sequence[tuple[str, HeaderValue]]"
ResponseValue: TypeAlias = (
    "Response | str | bytes | dict[str, Any] | list[Any] | Iterable[Any] | AsyncIterable[Any]"
)
ResponseReturnValue: TypeAlias = (
    "ResponseValue | tuple[ResponseValue, HeadersValue] | tuple[ResponseValue, StatusCode]"
    " | tuple[ResponseValue, StatusCode, HeadersValue]"
)
