"""One module per API: what the engine needs to know about each cached route (see `dialects.base`).

`base` holds the interface, `registry` the route -> dialect table, `sse` the server-sent-events framing, `wire`
small helpers the dialects share; every other module is one API.
"""
