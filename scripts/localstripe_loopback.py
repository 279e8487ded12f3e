"""Runs localstripe, the stateful Stripe stand-in, on loopback only.

Its own `localstripe` command listens on every interface ('::'); a test
double of a payment provider has no business being reachable from outside.
Usage: python scripts/localstripe_loopback.py [--port 8420] [--from-scratch]
"""

import argparse

from aiohttp import web
from localstripe.server import app, store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--from-scratch", action="store_true")
    args = parser.parse_args()
    if not args.from_scratch:
        store.try_load_from_disk()
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
