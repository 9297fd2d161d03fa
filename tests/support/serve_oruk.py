"""A generated ORUK v3 feed on the loopback server, in its own process (for benchmarks).

    .venv/bin/python -m tests.support.serve_oruk --services 20000 [--seed 9] [--strip-nested]
        [--latency-ms 50]

Prints the server's URL on the first line of stdout, then serves until stdin closes (the parent
process ends or closes the pipe). Running the server in its own process keeps its work (building
and serialising pages) off the harvesting process's core and interpreter lock, as a real server
would be; ``--latency-ms`` adds a fixed delay to every request, like a server across a network.
"""
from __future__ import annotations

import argparse
import sys

from tests.support.faultyserver import FaultyServer
from tests.support.orukfeeds import OrukFeed, generated_v3_services


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--strip-nested", action="store_true", help="list items lack nested objects")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    ap.add_argument("--etag", action="store_true", help="send ETags and answer 304s")
    args = ap.parse_args()
    feed = OrukFeed(generated_v3_services(args.services, seed=args.seed), strip_nested=args.strip_nested,
                    etag=args.etag)
    with FaultyServer() as srv:
        feed.install(srv)
        if args.latency_ms > 0:
            srv.fault("*", "delay", seconds=args.latency_ms / 1000.0, times=-1)
        print(srv.url, flush=True)
        sys.stdin.read()  # until the parent closes the pipe


if __name__ == "__main__":
    main()
