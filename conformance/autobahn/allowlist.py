"""Autobahn cases tapster is known to fail, each with the reason; docs/conformance.md lists them too.

An entry keeps CI green while the fix is pending: the core engineer who fixes a case removes its entry
(and its line in the docs). A case that is allowlisted but passes is reported, not failed, because the
failures below are races a run sometimes wins; remove an entry once its case passes every run.
Case id -> what Autobahn expected and what tapster did.
"""

from __future__ import annotations

__all__ = ["ALLOWED"]

# (Empty: every case passes. Cases 3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.5 and 5.15 were allowlisted while a
# protocol error right behind a valid message closed the connection before the app's echo of it; the
# close now waits for the app to take the messages before it.)
ALLOWED: dict[str, str] = {}
