"""`make run`: the gateway on one machine, through the very same Lambda handler.

- `events`: HTTP request <-> API Gateway REST proxy event (payload v1.0), pure functions.
- `server`: a threading HTTP server that calls a Lambda-style handler per request.
- `aws`: the embedded AWS (moto server on loopback) and the table/bucket bootstrap.
- `fake_provider`: an offline OpenAI-compatible provider (canned answers), also the tests' upstream.
- `cli` / `__main__`: `python -m llmcache.local [--port 8080] [--host 127.0.0.1]`.

Nothing here is imported by the Lambda handler; importing this package is cheap.
"""
