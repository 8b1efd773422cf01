"""The Autobahn TestSuite (wstest's fuzzing client) against tapster's WebSockets.

`wstest` builds and caches the Python 2.7 environment wstest needs, `run` runs it against a server
and judges the report (`report`), `allowlist` names the known failures, `_app` is the echo app the
cases expect. Run it with `python -m conformance.autobahn`; see docs/conformance.md.
"""
