"""One construct per capability: storage, secrets, function, API, hot tier, monitoring.

This package is `infra.constructs`; it never shadows the `constructs` library because `infra/`
itself is kept off `sys.path` (see `infra/app.py`).
"""
