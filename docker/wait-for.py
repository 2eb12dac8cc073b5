#!/usr/bin/env python3
"""Wait for the services a container depends on, then exec a command.

Compose's healthchecks need a working healthcheck timer (systemd under Podman), so the
services here start with `condition: service_started` and wait with this script:

    wait-for [--tcp HOST:PORT] [--http URL] [--dask-workers ADDRESS N] [--timeout S] -- CMD ARGS...

--tcp waits until a TCP connection succeeds, --http until the URL answers with 2xx,
--dask-workers until the Dask scheduler at ADDRESS has N workers (needs `distributed`).
Each option may be repeated; they are checked in order. Exits 1 on timeout.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request


def _tcp(target: str) -> None:
    host, _, port = target.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=3):
        pass


def _http(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as resp:
        if not 200 <= resp.status < 300:
            raise OSError(f"HTTP {resp.status}")


def _dask(address: str, n: int, deadline: float) -> None:
    from distributed import Client

    with Client(address, timeout="10s") as client:
        client.wait_for_workers(n, timeout=max(deadline - time.monotonic(), 1))


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        opts, cmd = argv[:split], argv[split + 1 :]
    else:
        opts, cmd = argv, []
    parser = argparse.ArgumentParser(prog="wait-for", description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--http", action="append", default=[], metavar="URL")
    parser.add_argument("--dask-workers", nargs=2, action="append", default=[], metavar=("ADDRESS", "N"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for all waits together")
    args = parser.parse_args(opts)
    deadline = time.monotonic() + args.timeout

    checks = [(f"tcp {t}", lambda t=t: _tcp(t)) for t in args.tcp]
    checks += [(f"http {u}", lambda u=u: _http(u)) for u in args.http]
    checks += [(f"{n} dask workers at {a}", lambda a=a, n=n: _dask(a, int(n), deadline)) for a, n in args.dask_workers]
    for what, check in checks:
        last = ""
        while True:
            try:
                check()
                print(f"wait-for: {what}: ready", file=sys.stderr, flush=True)
                break
            except (OSError, urllib.error.URLError, TimeoutError) as exc:
                msg = f"{type(exc).__name__}: {exc}"
                if msg != last:
                    print(f"wait-for: {what}: waiting ({msg})", file=sys.stderr, flush=True)
                    last = msg
            if time.monotonic() > deadline:
                print(f"wait-for: {what}: not ready after {args.timeout:.0f} s", file=sys.stderr)
                return 1
            time.sleep(2)
    if cmd:
        os.execvp(cmd[0], cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
