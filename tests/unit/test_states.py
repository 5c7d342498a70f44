"""The one state machine (storage.states): its moves, its agreement with the core's reading
of a check-in, and that a misspelled status no longer passes the type checker."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest

from bot.core.scoring import CheckinStatus
from bot.core.strain import ClientStatus
from bot.digest.weekly import CLIENT_STATUS, record_status
from storage.models import CheckIn, Client, OutboxMessage
from storage.states import (
    CHECKIN_MOVES,
    CLIENT_MOVES,
    OPEN_CHECKIN,
    OUTBOX_MOVES,
    UNCLOSED_CHECKIN,
    CheckinState,
    ClientState,
    IllegalMove,
    OutboxState,
    allowed,
    move,
    sources,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _checkin(status: CheckinState) -> CheckIn:
    return CheckIn(
        client_id=1, session_id=1, instrument_id="x", sequence=1, items="a", due_at=NOW
    ).model_copy(update={"status": status})


def _status(row: CheckIn | Client) -> str:
    """The row's status as stored now (read through a call, so the checker does not narrow)."""
    return str(row.status)


def test_every_state_has_its_moves_listed() -> None:
    assert set(CHECKIN_MOVES) == set(CheckinState)
    assert set(CLIENT_MOVES) == set(ClientState)
    assert set(OUTBOX_MOVES) == set(OutboxState)


@pytest.mark.parametrize(
    "done", [CheckinState.COMPLETED, CheckinState.EXPIRED, CheckinState.CANCELLED]
)
def test_a_closed_checkin_cannot_be_reopened_or_closed_again(done: CheckinState) -> None:
    checkin = _checkin(done)
    for target in CheckinState:
        with pytest.raises(IllegalMove):
            move(checkin, target)
    assert checkin.status == done


def test_legal_moves_change_the_row_and_illegal_ones_leave_it() -> None:
    checkin = _checkin(CheckinState.SCHEDULED)
    with pytest.raises(IllegalMove):
        move(checkin, CheckinState.ANSWERING)  # never sent: nothing to answer
    assert checkin.status == CheckinState.SCHEDULED
    move(checkin, CheckinState.QUEUED)
    move(checkin, CheckinState.SENT)
    move(checkin, CheckinState.COMPLETED)
    assert _status(checkin) == CheckinState.COMPLETED

    client = Client(therapist_id=1, alias="Kim", alias_key="kim", created_at=NOW)
    assert client.status == ClientState.INVITED
    with pytest.raises(IllegalMove):
        move(client, ClientState.PAUSED)  # pausing needs having joined
    move(client, ClientState.ACTIVE)
    move(client, ClientState.PAUSED)
    assert _status(client) == ClientState.PAUSED

    row = OutboxMessage(
        kind="digest",
        chat_id=1,
        dedupe_key="k",
        payload_ciphertext=b"",
        not_before=NOW,
        created_at=NOW,
    )
    assert row.status == OutboxState.PENDING
    assert not allowed(OutboxState.SENT, OutboxState.PENDING)  # sent stays sent
    assert allowed(OutboxState.PARKED, OutboxState.PENDING)  # the admin's retry


def test_guarded_updates_take_their_sources_from_the_table() -> None:
    # on_sent: only a queued check-in becomes sent (one already answered keeps its state).
    assert sources(CheckinState.SENT) == (CheckinState.QUEUED,)
    # due: only a scheduled check-in is queued.
    assert sources(CheckinState.QUEUED) == (CheckinState.SCHEDULED,)
    # close_checkins: every state not yet closed, and nothing else.
    assert set(sources(CheckinState.EXPIRED)) == set(UNCLOSED_CHECKIN)
    assert set(sources(CheckinState.CANCELLED)) == set(UNCLOSED_CHECKIN)
    # An answer is stored only on an open check-in.
    assert set(sources(CheckinState.COMPLETED)) == set(OPEN_CHECKIN)
    # The sender's "sent" mark never overwrites a settled row.
    assert set(sources(OutboxState.SENT)) == {
        OutboxState.CLAIMED,
        OutboxState.SENDING,
        OutboxState.RESENDING,
    }


def test_the_cores_reading_of_every_stored_checkin_state_is_a_core_status() -> None:
    core = set(get_args(CheckinStatus))
    reached = {
        record_status(state, sent, answered)
        for state in CheckinState
        for sent in (False, True)
        for answered in (False, True)
    }
    # Total over storage's states, and every status the core knows can come from storage.
    assert reached == core
    assert {record_status(state, True, True) for state in OPEN_CHECKIN} == {"pending"}
    assert record_status(CheckinState.EXPIRED, sent=True, answered=False) == "unanswered"
    assert record_status(CheckinState.CANCELLED, sent=True, answered=False) == "expired"


def test_the_cores_client_status_covers_storage_and_adds_only_unreachable() -> None:
    assert set(CLIENT_STATUS) == set(ClientState)
    assert set(CLIENT_STATUS.values()) | {"unreachable"} == set(get_args(ClientStatus))


def _mypy(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from storage.states import CheckinState, move\n\n\n"
        "class Row:\n    status: CheckinState = CheckinState.SENT\n\n\n"
        f"def change(row: Row) -> None:\n    {body}\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=skip",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(snippet),
            "storage/states.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mypy_catches_a_misspelled_status(tmp_path: Path) -> None:
    fine = _mypy(tmp_path, "move(row, CheckinState.ANSWERING)")
    assert "snippet.py" not in fine.stdout, fine.stdout
    misspelled = _mypy(tmp_path, "move(row, CheckinState.ANSWRING)")
    assert 'has no attribute "ANSWRING"' in misspelled.stdout, misspelled.stdout
    as_string = _mypy(tmp_path, 'row.status = "answring"')
    assert "snippet.py:9: error: Incompatible types in assignment" in as_string.stdout
