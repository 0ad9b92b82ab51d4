"""`python -m llmcache.local [--port 8080] [--host 127.0.0.1] [--offline]`: see `llmcache.local.run`."""

import sys

from llmcache.local.run import main

if __name__ == "__main__":
    sys.exit(main())
