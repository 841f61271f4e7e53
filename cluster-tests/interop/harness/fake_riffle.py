#!/usr/bin/env python3
"""A stand-in for `riffle serve` used only by test_harness.py: it parses the same command line, listens on the
listener's port, accepts and closes connections, counts its starts in <log.dirs>/starts, and exits 0 on SIGTERM.
`--override fake.exit.at.start=CODE` makes it print a message and exit with CODE before listening."""

import os
import signal
import socket
import sys


def main():
    args = sys.argv[1:]
    if not args or args[0] != "serve":
        print("usage: fake_riffle serve [--override key=value]...", file=sys.stderr)
        return 2
    overrides = {}
    it = iter(args[1:])
    for arg in it:
        if arg == "--override":
            key, _, value = next(it).partition("=")
            overrides[key] = value
    if "fake.exit.at.start" in overrides:
        print("fake riffle: refusing to start as asked", file=sys.stderr, flush=True)
        return int(overrides["fake.exit.at.start"])
    listener = overrides["listeners"].split("://", 1)[1]
    host, _, port = listener.rpartition(":")
    log_dir = overrides["log.dirs"]
    with open(os.path.join(log_dir, "starts"), "a") as f:
        f.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(16)
    print(f"fake riffle listening on {host}:{port}", file=sys.stderr, flush=True)
    while True:
        conn, _ = sock.accept()
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
