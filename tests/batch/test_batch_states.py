"""The row-state table of batch/states.py, and both journals holding to it: a move the table
does not allow raises and writes nothing, in SQLite as in PostgreSQL, whatever the sequence."""

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopay_soap import Money
from autopay_soap.batch.journal import open_journal
from autopay_soap.batch.rows import ChargeRow
from autopay_soap.batch.states import (
    FINAL,
    QUEUED,
    RESULTS,
    UNRESOLVED,
    IllegalMove,
    RowState,
    allowed,
    check_move,
    outcome_of,
    sources,
)


def row(number, amount="10.00"):
    return ChargeRow(line=2, order_number=number, amount=Money.of(amount, "RUB"), client_id="c1", binding_id="b-1")


def test_the_table_has_no_move_out_of_a_final_state_and_results_come_from_in_flight_only():
    for state in FINAL:
        assert not any(allowed(state, target) for target in RowState), state
    for result in RESULTS:
        assert sources(result) == {RowState.IN_FLIGHT}, result
    assert allowed(None, RowState.IN_FLIGHT) and allowed(None, RowState.PENDING)
    assert not allowed(None, RowState.PAID)  # a result for a row never in flight
    for state in UNRESOLVED:
        assert allowed(state, RowState.IN_FLIGHT) and allowed(state, RowState.PENDING)
    assert QUEUED == UNRESOLVED | {RowState.PENDING} and not QUEUED & FINAL
    assert RowState.PAID.final and not RowState.UNKNOWN.final and str(RowState.IN_FLIGHT) == "in_flight"


def test_each_state_is_reported_once_and_in_flight_is_unknown():
    assert outcome_of("in_flight") == "unknown" and outcome_of("pending") == "not_started"
    assert outcome_of("postponed") == "not_started" and outcome_of("paid") == "paid"
    with pytest.raises(IllegalMove, match="from paid to in_flight"):
        check_move("A-1", "paid", RowState.IN_FLIGHT)
    with pytest.raises(IllegalMove, match="from frozen to in_flight"):  # a name no version writes
        check_move("A-1", "frozen", RowState.IN_FLIGHT)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "states.journal.sqlite")
    return request.getfixturevalue("pg_url") + "?merchant=states&batch=b"


def test_a_final_row_is_never_set_in_flight_again_and_nothing_changes(journal_url):
    with open_journal(journal_url) as journal:
        journal.intend(row("F-1"))
        journal.record("F-1", RowState.PAID, order_id="o-1")
        with pytest.raises(IllegalMove, match="F-1 cannot go from paid to in_flight"):
            journal.intend(row("F-1"))
        entry = journal.get("F-1")
        assert (entry.state, entry.attempts, entry.order_id) == (RowState.PAID, 1, "o-1")
        with pytest.raises(IllegalMove, match="from paid to declined"):  # a result recorded twice
            journal.record("F-1", RowState.DECLINED)
        with pytest.raises(IllegalMove, match="from no row to paid"):  # a result for a number never in flight
            journal.record("NEVER-1", RowState.PAID)
        with pytest.raises(IllegalMove, match="from in_flight to in_flight|to in_flight"):
            journal.intend(row("U-1"))
            journal.record("U-1", RowState.IN_FLIGHT)  # not a result
        assert journal.get("F-1").state is RowState.PAID and journal.get("NEVER-1") is None
        assert journal.counts() == {"paid": 1, "in_flight": 1}


def test_a_state_no_version_writes_is_refused_by_name(tmp_path):
    path = tmp_path / "edited.journal.sqlite"
    with open_journal(path) as journal:
        journal.intend(row("E-1"))
    db = sqlite3.connect(str(path))
    db.execute("UPDATE charges SET state = 'frozen'")
    db.commit()
    db.close()
    with open_journal(path) as journal:
        with pytest.raises(ValueError, match="the state 'frozen', which no version of autopay_soap writes"):
            journal.get("E-1")
        with pytest.raises(IllegalMove, match="from frozen to in_flight"):
            journal.intend(row("E-1"))


moves = st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(list(RowState))), max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moves)
def test_any_sequence_of_writes_follows_the_table(sequence):
    """Intents, queueing and results in any order: the journal ends where the table says, and
    every refused write left the row as it was."""
    model = {}
    with tempfile.TemporaryDirectory() as folder, open_journal(Path(folder) / "j.sqlite") as journal:
        for number, target in sequence:
            old = model.get(number)
            ok = allowed(old, target)
            try:
                if target is RowState.IN_FLIGHT:
                    journal.intend(row(number))
                elif target is RowState.PENDING:
                    continue  # queueing is the PostgreSQL journal's (tests/cluster/test_journal_pg.py)
                else:
                    journal.record(number, target)
            except IllegalMove:
                assert not ok, (old, target)
            else:
                assert ok, (old, target)
                model[number] = target
            entry = journal.get(number)
            assert (entry.state if entry else None) == model.get(number)
