"""Event-loop adapters for the backend seam (tapster.asgi._seam). Only these import asyncio or trio."""
