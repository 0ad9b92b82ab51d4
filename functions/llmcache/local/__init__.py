"""`make run`: the gateway on one machine, the ASGI app under uvicorn, with AWS emulated and an offline provider.

- `run` / `__main__`: `python -m llmcache.local [--port 8080] [--host 127.0.0.1] [--offline] [--quiet]`.
- `startup`: what the run starts, decided from the environment (upstreams and where each came from, the admin
  key, a refusal of an upstream that is the gateway itself) and the banner that says it.
- `console`: one short line per request and readable warnings (`LOG_FORMAT=json`: a deployment's JSON lines).
- `aws`: the embedded AWS (moto server on loopback) and the table/bucket bootstrap.
- `fake_provider`, `fake_apis`: an offline provider of every API (canned answers), also the tests' upstream.

Nothing here is imported by the Lambda handler; importing this package is cheap.
"""
