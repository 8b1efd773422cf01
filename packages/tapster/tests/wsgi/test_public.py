"""tapster.wsgi's public surface is what we mean it to be."""

from __future__ import annotations

import tapster.wsgi


def test_wsgi_exports() -> None:
    assert sorted(tapster.wsgi.__all__) == ["FileWrapper", "WSGIAdapter", "WSGIApp"]
    for name in tapster.wsgi.__all__:
        assert hasattr(tapster.wsgi, name)
