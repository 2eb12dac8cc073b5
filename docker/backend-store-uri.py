#!/usr/bin/env python3
"""Export MLflow's PostgreSQL store URI, password read from a secret file, then exec a command.

    backend-store-uri -- CMD ARGS...

Reads POSTGRES_USER, POSTGRES_DB, POSTGRES_HOST (host:port) and POSTGRES_PASSWORD_FILE, and
sets MLFLOW_BACKEND_STORE_URI, which `mlflow server` reads in place of --backend-store-uri:
the password stays off every command line (`ps` shows arguments to all users of the host).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import quote


def store_uri(env: dict[str, str]) -> str:
    """postgresql+psycopg2://USER:PASSWORD@HOST/DB with user and password URL-quoted."""
    missing = [k for k in ("POSTGRES_USER", "POSTGRES_DB", "POSTGRES_HOST", "POSTGRES_PASSWORD_FILE") if not env.get(k)]
    if missing:
        raise SystemExit(f"backend-store-uri: {', '.join(missing)} not set")
    secret = Path(env["POSTGRES_PASSWORD_FILE"])
    try:
        # trailing newlines dropped, as the postgres image does with its *_FILE variables
        password = secret.read_text().rstrip("\n")
    except OSError as exc:
        raise SystemExit(f"backend-store-uri: cannot read the password file {secret}: {exc.strerror}") from None
    if not password:
        raise SystemExit(f"backend-store-uri: the password file {secret} is empty")
    # +psycopg2: SQLAlchemy 2.1 maps a plain postgresql:// to psycopg 3, not installed here
    return (
        f"postgresql+psycopg2://{quote(env['POSTGRES_USER'], safe='')}:{quote(password, safe='')}"
        f"@{env['POSTGRES_HOST']}/{quote(env['POSTGRES_DB'], safe='')}"
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        raise SystemExit("usage: backend-store-uri -- CMD ARGS...")
    os.environ["MLFLOW_BACKEND_STORE_URI"] = store_uri(dict(os.environ))
    os.execvp(argv[1], argv[1:])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
