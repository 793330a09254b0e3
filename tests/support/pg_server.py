"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder
on a loopback port, started as the ``postgres`` user when the tests run as root (initdb and
pg_ctl refuse root). None of it is the library's."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from typing import Iterator, List, Optional


def server_bin() -> Optional[str]:
    """The newest installed PostgreSQL server's bin folder, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


def _as_postgres(cmd: List[str]) -> List[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgServer:
    """One throwaway server; :meth:`crash` and :meth:`start` bring it down (``-m immediate``: a
    crash, every session cut) and back on the same port with its data."""

    def __init__(self, bin_dir: str, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable  # a commit survives crash(): synchronous_commit on (fsync stays off: the OS lives)
        self.folder = tempfile.mkdtemp(prefix="autopay-pg.")
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data, self.port = os.path.join(self.folder, "data"), _free_port()
        subprocess.run(_as_postgres([f"{bin_dir}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E",
                                     "UTF8", "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def start(self) -> None:
        """Start it and return once it accepts connections."""
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit={'on' if self.durable else 'off'} -c full_page_writes=off "
                   "-c max_connections=100")
        subprocess.run(_as_postgres([f"{self.bin_dir}/pg_ctl", "-D", self.data, "-l", f"{self.folder}/server.log",
                                     "-w", "-o", options, "start"]), check=True, stdout=subprocess.DEVNULL)

    def crash(self) -> None:
        """Stop it at once, as a crash does (no checkpoint, every connection cut)."""
        subprocess.run(_as_postgres([f"{self.bin_dir}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        """Stop it and remove its files."""
        self.crash()
        shutil.rmtree(self.folder, ignore_errors=True)


def running_server(bin_dir: str) -> Iterator[str]:
    """Start a server; yield its URL; stop it and remove its files."""
    server = PgServer(bin_dir)
    try:
        yield server.url
    finally:
        server.close()
