"""Request and response wrappers (Quart's module path: `firkin.wrappers`)."""

from .request import Body, Request
from .response import DataBody, IterableBody, Response, ResponseBody

__all__ = ["Body", "DataBody", "IterableBody", "Request", "Response", "ResponseBody"]
