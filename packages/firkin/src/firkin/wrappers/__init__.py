"""Request and response wrappers (Quart's module path: `firkin.wrappers`)."""

from .request import Body, Request
from .response import DataBody, FileBody, IOBody, IterableBody, Response, ResponseBody

__all__ = ["Body", "DataBody", "FileBody", "IOBody", "IterableBody", "Request", "Response", "ResponseBody"]
