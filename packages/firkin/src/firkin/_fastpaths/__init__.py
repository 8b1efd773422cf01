"""The fast paths that lean on werkzeug's internals, in one place.

To save time on every request firkin does a few things werkzeug's public API does not offer:

- `matching`: URL matching in werkzeug's own state tree, compiled once (`FirkinMap.fast_match`);
- `responses`: responses built without werkzeug's `__init__` (`Response.of_data`, `of_parts`, a str
  or bytes `Response(...)`), their headers kept as the ASGI pairs until read, and werkzeug's
  `Headers` read and filled through its `_list`;
- `forms`: an urlencoded form's MultiDict filled with its values' lists (`dict.update`, werkzeug's
  layout) instead of through `MultiDict.__init__`'s walk;
- `templates`: a Jinja template rendered with its globals merged by C-level dict updates instead of
  a copy of its `ChainMap` (`render_template`; jinja2 is bounded too);
- and one that stays where it is: `firkin.wrappers.Request.__init__` sets what werkzeug's `__init__`
  sets (its headers built from the ASGI pairs when first read) without calling it. It is the
  request's constructor, so it lives with the request; the test below checks it against werkzeug's.

werkzeug and flask have upper version bounds in firkin's pyproject.toml. tests/test_werkzeug_internals.py
checks each internal used here against the installed werkzeug (and test_fast_match.py the matching's
answers against werkzeug's), so a release that changes one fails a test that names the fast path.
"""
