"""The cheap check before the immediate-alert judgement never hides an alert.

After every answer the bot first asks whether the check-in, on its own answers, could
be severe (``bot.digest.alerts.could_alert``); only then does it read the client's history and
judge fully. The shortcut is sound only if every alert the full judgement gives also
passes the check: tested on simulated caseloads and on arbitrary answers.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.instrument import get_instrument
from bot.core.scoring import CheckinRecord
from bot.core.strain import ClientHistory, assess_checkin_alert
from bot.digest.alerts import could_alert
from bot.offline.caseload import SIMULATION_START, simulate_caseload

INSTRUMENT = get_instrument()


def _prefixes(history: ClientHistory) -> list[ClientHistory]:
    """The history as it stood after each answered check-in (that one the newest)."""
    ordered = sorted(history.checkins, key=lambda c: c.sequence)
    return [
        replace(history, checkins=tuple(ordered[: n + 1]))
        for n, record in enumerate(ordered)
        if record.responded
    ]


def test_every_alert_on_simulated_caseloads_passes_the_precheck() -> None:
    alerts = dismissed = 0
    for seed in range(1, 9):
        for client in simulate_caseload(seed):
            for history in _prefixes(client.history):
                newest = max(history.checkins, key=lambda c: c.sequence)
                quick = could_alert(
                    INSTRUMENT, newest.answers, newest.instrument_id, SIMULATION_START
                )
                full = assess_checkin_alert(history, INSTRUMENT)
                assert quick or not full, (seed, client.history.client_id, newest.sequence)
                alerts += full
                dismissed += not quick
    # Both sides really occur: alerts were raised, and most answers skip the full read.
    assert alerts > 10
    assert dismissed > alerts


_SCALE = st.one_of(st.none(), st.integers(min_value=1, max_value=5))


def test_steady_answers_fail_the_precheck_and_severe_ones_pass() -> None:
    steady = {"bond": 5, "goals": 4, "tasks": 5, "openness": 4, "tension": 0}
    unrepaired = {**steady, "tension": 2, "talked_through": 0}
    two_low = {**steady, "bond": 2, "goals": 1}
    assert not could_alert(INSTRUMENT, steady, INSTRUMENT.id, SIMULATION_START)
    assert could_alert(INSTRUMENT, unrepaired, INSTRUMENT.id, SIMULATION_START)
    assert could_alert(INSTRUMENT, two_low, INSTRUMENT.id, SIMULATION_START)


@settings(max_examples=300, deadline=None)
@given(
    earlier=st.lists(
        st.fixed_dictionaries(
            {"bond": _SCALE, "goals": _SCALE, "tasks": _SCALE, "openness": _SCALE}
        ),
        max_size=6,
    ),
    newest=st.fixed_dictionaries(
        {
            "bond": _SCALE,
            "goals": _SCALE,
            "tasks": _SCALE,
            "openness": _SCALE,
            "tension": st.one_of(st.none(), st.integers(min_value=0, max_value=2)),
            "talked_through": st.one_of(st.none(), st.integers(min_value=0, max_value=2)),
        }
    ),
)
@example(
    earlier=[{"bond": 5, "goals": 5, "tasks": 5, "openness": 5}],
    newest={"bond": 2, "goals": 2, "tasks": 5, "openness": 5, "tension": 0, "talked_through": None},
)
def test_any_answers_that_alert_pass_the_precheck(
    earlier: list[dict[str, int | None]], newest: dict[str, int | None]
) -> None:
    records = [
        CheckinRecord(
            checkin_id=n + 1,
            sequence=n + 1,
            session_end=SIMULATION_START,
            due_at=SIMULATION_START,
            status="completed",
            answers=answers,
            has_comment=False,
            instrument_id=INSTRUMENT.id,
        )
        for n, answers in enumerate([*earlier, newest])
    ]
    history = ClientHistory(
        client_id=1,
        alias="river",
        locale="en",
        enrolled_at=SIMULATION_START,
        status="active",
        status_since=None,
        checkins=tuple(records),
    )
    if assess_checkin_alert(history, INSTRUMENT):
        assert could_alert(INSTRUMENT, newest, INSTRUMENT.id, SIMULATION_START)
