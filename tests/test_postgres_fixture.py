"""The Postgres fixture of helpers.py: a throwaway server that answers, is
restarted on its port after a crash, and freezes and thaws on signals."""

from __future__ import annotations

import socket
from pathlib import Path

from helpers import Postgres


def test_a_throwaway_server_answers_and_restarts(tmp_path: Path) -> None:
    pg = Postgres(tmp_path / "postgres.log")
    try:
        assert pg.query("select 1") == "1"
        pg.query("create table t (x int); insert into t values (7)", db="switchyard")
        pg.kill()
        pg.restart()
        assert pg.query("select x from t", db="switchyard") == "7"
        pg.sigstop()
        with socket.create_connection(("127.0.0.1", pg.port), timeout=5) as s:
            s.settimeout(0.5)
            s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # SSLRequest: no answer while frozen
            try:
                answered = bool(s.recv(1))
            except TimeoutError:
                answered = False
        assert not answered
        pg.sigcont()
        assert pg.query("select 2") == "2"
        pg.stop()
        pg.restart()
        assert pg.url.endswith(f":{pg.port}/switchyard")
    finally:
        pg.close()
    assert pg.pid() is None
