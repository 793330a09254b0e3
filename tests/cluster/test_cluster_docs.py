"""docs/cluster.rst's database set-up runs as written, and the journal then creates its tables
as that user (PostgreSQL 15 gives ``GRANT ALL ON DATABASE`` no right to create in ``public``)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from autopay_soap.batch.journal import open_journal

from ..support import require

pytestmark = pytest.mark.postgres

CHAPTER = Path(__file__).resolve().parent.parent.parent / "docs" / "cluster.rst"


def database_setup_command():
    text = CHAPTER.read_text(encoding="utf-8")
    block = text.split("On the database host", 1)[1].split("::", 1)[1]
    return next(line.strip() for line in block.splitlines() if line.strip())


def test_the_database_set_up_runs_as_written_and_the_journal_creates_its_tables():
    from ..support.pg_server import PgServer, server_bin

    require("PostgreSQL", None if server_bin() else "no PostgreSQL server (apt-get install postgresql)", "psycopg",
             'no psycopg (pip install ".[postgres]")')
    command = database_setup_command()
    assert command == "createuser autopay && createdb --owner autopay payments"
    server = PgServer(server_bin())
    try:
        port = re.search(r":(\d+)/", server.url).group(1)
        env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=port, PGUSER="postgres",
                   PATH=server.bin_dir + os.pathsep + os.environ["PATH"])
        done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        url = f"postgresql://autopay@127.0.0.1:{port}/payments?merchant=shop&batch=first"
        with open_journal(url) as journal:  # the tables are created on first use, by the user the docs made
            assert journal.counts() == {}
            owner = journal._run("SELECT tableowner FROM pg_tables WHERE tablename = 'autopay_charges'",
                                 fetch="one")[0]
        assert owner == "autopay"
    finally:
        server.close()
