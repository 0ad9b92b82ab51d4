"""The offline fake provider for the benchmarks, with TCP_NODELAY on its sockets.

`llmcache.local.fake_provider` writes a response's headers and body in two sends; with Nagle's
algorithm on, the body waits for the client's delayed ACK, so every answer after the first on a
kept-alive connection takes ~40 ms on Linux. That would swamp the miss-path figures with a
loopback artefact, so the benchmarks set `disable_nagle_algorithm` (a socketserver switch) on the
provider's request handler class in this process; the provider's code and answers are unchanged.
`--nagle` keeps the stock behaviour, to show the difference.

`python -m bench.provider --port N [--nagle]`
"""

from __future__ import annotations

import argparse
import threading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nagle", action="store_true", help="leave Nagle's algorithm on (the stock provider)")
    args = parser.parse_args(argv)
    from llmcache.local import fake_provider

    if not args.nagle:
        fake_provider._FakeHandler.disable_nagle_algorithm = True
    provider = fake_provider.start_fake_provider(port=args.port, host=args.host)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
