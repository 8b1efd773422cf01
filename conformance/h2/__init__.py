"""An HTTP/2 frame-level conformance suite (RFC 9113, RFC 7541), in the spirit of h2spec.

`client` is a raw HTTP/2 client, `cases` the registry of cases and `run_cases`, `_app` the ASGI app
the cases expect the server to serve. Run it with `python -m conformance.h2 --port N`; see README.md.
"""
