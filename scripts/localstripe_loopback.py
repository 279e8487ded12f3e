"""Runs localstripe, the stateful Stripe stand-in, on loopback only.

Its own `localstripe` command listens on every interface ('::'); a test
double of a payment provider has no business being reachable from outside.
Usage: python scripts/localstripe_loopback.py [--port 8420] [--from-scratch]

With --from-scratch the store lives in memory only. localstripe otherwise
pickles its whole store to /tmp/localstripe.pickle on every write, which makes
each call slower as objects pile up (measured: PaymentIntent create went from
32 ms to 250 ms over 400 payments, with 13 MB written to disk per payment)
and shares one file between every instance on the machine.
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
    if args.from_scratch:
        store.dump_to_disk = lambda: None  # in memory only; see the docstring
    else:
        store.try_load_from_disk()
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
