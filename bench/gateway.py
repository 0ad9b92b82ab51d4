"""`python -m llmcache.local` with TCP_NODELAY on the gateway's sockets (`make load --tcp-nodelay`).

The local gateway's request handler (llmcache/local/server.py) writes a response's headers and
body in two sends with Nagle's algorithm on, so on a kept-alive connection every response waits
for the client's delayed ACK (~40 ms on Linux). Until the handler sets `disable_nagle_algorithm`
itself, this launcher sets it on the class and then runs the very same CLI.

`python -m bench.gateway [llmcache.local options]`
"""

from __future__ import annotations

import sys


def main() -> int:
    from llmcache.local import fake_provider, server
    from llmcache.local.cli import main as cli_main

    server._RequestHandler.disable_nagle_algorithm = True
    fake_provider._FakeHandler.disable_nagle_algorithm = True  # the built-in offline provider too
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
