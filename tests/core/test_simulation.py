"""The simulated caseload lands on its configured rates, and the quality figures count right."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import fmean

import pytest

from bot.core.instrument import get_instrument
from bot.core.scoring import CheckinRecord
from bot.core.strain import ClientHistory, Severity
from bot.offline.caseload import (
    CORE_ITEMS,
    DEFAULT_CONFIG,
    SIMULATION_START,
    SimulatedClient,
    SimulatedEvent,
    SimulationConfig,
    caseload_rates,
    digest_moments,
    history_as_of,
    simulate_caseload,
)
from bot.offline.flag_quality import ClientTrace, judge, merge, trace_caseload

SEEDS = range(1, 9)
STEADY, WATCH, TALK = Severity.STEADY, Severity.WATCH, Severity.CONVERSATION


def _caseloads(config: SimulationConfig = DEFAULT_CONFIG) -> list[SimulatedClient]:
    """Eight seeded caseloads of 40, one list."""
    return [client for seed in SEEDS for client in simulate_caseload(seed, config=config)]


@pytest.fixture(scope="module")
def caseload() -> list[SimulatedClient]:
    """The default caseloads, built once for this module."""
    return _caseloads()


def test_same_seed_same_caseload() -> None:
    assert simulate_caseload(3) == simulate_caseload(3)
    assert simulate_caseload(3) != simulate_caseload(4)
    # A client does not depend on how many come after them.
    assert simulate_caseload(3, clients=5) == simulate_caseload(3)[:5]


def test_rates_land_near_their_configured_values(caseload: list[SimulatedClient]) -> None:
    rates = caseload_rates(caseload)
    assert rates.compliance == pytest.approx(0.79, abs=0.03)
    assert rates.tension == pytest.approx(0.20, abs=0.03)
    # About half of the check-ins are straight-lined at the top (ACORN; Meier & Feeley).
    assert rates.all_top == pytest.approx(0.50, abs=0.06)
    assert rates.dropout == pytest.approx(0.20, abs=0.05)
    assert 0.3 <= rates.silent_dropout <= 0.7


def test_tension_rate_is_a_setting() -> None:
    rates = caseload_rates(_caseloads(SimulationConfig(tension_rate=0.35)))
    assert rates.tension == pytest.approx(0.35, abs=0.03)


def test_non_response_clusters_within_persons_and_after_strain(
    caseload: list[SimulatedClient],
) -> None:
    after_miss: list[bool] = []
    after_answer: list[bool] = []
    per_client = []
    for client in caseload:
        sent = [c for c in client.history.checkins if c.session_end >= SIMULATION_START]
        if len(sent) >= 6:
            per_client.append(fmean(c.non_response for c in sent))
        for before, after in zip(sent, sent[1:], strict=False):
            (after_miss if before.non_response else after_answer).append(after.non_response)
    assert fmean(after_miss) > fmean(after_answer) + 0.1
    # Persons differ: far more spread between clients than independent misses would give.
    spread = fmean((share - fmean(per_client)) ** 2 for share in per_client)
    binomial = fmean(per_client) * (1 - fmean(per_client)) / 10
    assert spread > 2 * binomial


def test_a_strained_session_makes_the_next_check_in_likelier_missed(
    caseload: list[SimulatedClient],
) -> None:
    after_strain: list[bool] = []
    after_calm: list[bool] = []
    for client in caseload:
        sent = [c for c in client.history.checkins if c.session_end >= SIMULATION_START]
        for before, after in zip(sent, sent[1:], strict=False):
            tension = before.answers.get("tension")
            if not before.responded or tension is None:
                continue
            unresolved = tension > 0 and before.answers.get("talked_through") != 2
            (after_strain if unresolved else after_calm).append(after.non_response)
    assert len(after_strain) > 50
    assert fmean(after_strain) > fmean(after_calm) + 0.07


def test_first_sessions_sit_lower_than_later_ones(caseload: list[SimulatedClient]) -> None:
    def core_mean(record: CheckinRecord) -> float:
        return fmean(v for i in CORE_ITEMS if (v := record.answers.get(i)) is not None)

    answered = [
        c for client in caseload for c in client.history.checkins if c.status == "completed"
    ]
    first = [core_mean(c) for c in answered if c.sequence == 1]
    later = [core_mean(c) for c in answered if c.sequence >= 10]
    assert fmean(first) < fmean(later) - 0.15


def test_ruptures_are_common_and_mostly_modest_and_short(caseload: list[SimulatedClient]) -> None:
    modest = [e for c in caseload for e in c.events if e.kind == "rupture"]
    large = [e for c in caseload for e in c.events if e.kind == "large_rupture"]
    with_rupture = sum(any(e.kind == "rupture" for e in c.events) for c in caseload)
    assert with_rupture / len(caseload) == pytest.approx(0.5, abs=0.08)
    assert all(0.5 <= e.depth <= 1.5 for e in modest)
    within_two = [e for e in modest if e.end - e.start <= timedelta(weeks=2)]
    assert len(within_two) / len(modest) > 0.75
    assert 0 < len(large) < len(modest) / 5
    # Large ruptures raise the hazard of dropping out.
    ruptured = [c for c in caseload if any(e.kind == "large_rupture" for e in c.events)]
    assert fmean(c.dropped_out for c in ruptured) > caseload_rates(caseload).dropout + 0.15


def test_history_as_of_hides_the_future() -> None:
    client = simulate_caseload(5)[0]
    moment = SIMULATION_START + timedelta(weeks=3)
    view = history_as_of(client, moment)
    assert all(c.session_end <= moment for c in view.checkins)
    assert all(
        c.status != "unanswered" or c.due_at + timedelta(hours=72) <= moment for c in view.checkins
    )


def test_the_trace_has_a_severity_per_digest_and_none_before_enrolment() -> None:
    caseload = simulate_caseload(2, clients=12)
    digests = digest_moments(13)
    traces = trace_caseload(caseload, get_instrument(), digests)
    for client, trace in zip(caseload, traces, strict=True):
        assert len(trace.severities) == len(digests)
        for moment, severity in zip(digests, trace.severities, strict=True):
            assert (severity is None) == (client.history.enrolled_at > moment)


# A hand-made caseload of four clients over four weekly digests, whose figures are
# worked out by hand below. Sessions are on Wednesdays, digests on the Mondays after.
DIGESTS = digest_moments(4)


def _session(week: int) -> datetime:
    """Wednesday 10:50 of a simulated week."""
    return SIMULATION_START + timedelta(weeks=week, days=2, hours=10, minutes=50)


def _record(client: int, week: int, core: int, **more: int) -> CheckinRecord:
    """An answered check-in with every core item at `core`."""
    answers: dict[str, int | None] = {item: core for item in CORE_ITEMS}
    answers |= {"tension": 0} | more
    return CheckinRecord(
        client * 100 + week, week + 1, _session(week), _session(week), "completed", answers, False
    )


def _client(number: int, records: list[CheckinRecord], *events: SimulatedEvent) -> SimulatedClient:
    """A client enrolled before the first session."""
    history = ClientHistory(
        number, f"c{number}", "en", SIMULATION_START, "active", None, tuple(records)
    )
    return SimulatedClient(history, "ordinary", (), events)


RUPTURE = SimulatedEvent("rupture", _session(1), _session(1), 1.0)
DECLINE = SimulatedEvent("decline", _session(1), _session(3), 1.0)
HAND_CASELOAD = [
    _client(1, [_record(1, w, 2 if w == 1 else 5) for w in range(4)], RUPTURE),
    # Client 2 reports a little tension, partly talked through, in week 2.
    _client(
        2,
        [
            _record(2, w, 4, **({"tension": 1, "talked_through": 1} if w == 2 else {}))
            for w in range(4)
        ],
    ),
    _client(
        3,
        [_record(3, 0, 2), _record(3, 1, 2), _record(3, 2, 2), _record(3, 3, 1)],
    ),
    _client(4, [_record(4, w, 5 - w // 2) for w in range(4)], DECLINE),
]
HAND_TRACES = [
    ClientTrace(1, (STEADY, TALK, WATCH, STEADY)),
    ClientTrace(2, (WATCH, WATCH, WATCH, TALK), flag_rules={"low_item": 3, "decline": 1}),
    # Alerts on weeks 0, 1 (the same answers: a repeat), 2 (a repeat) and 3 (lower: news).
    ClientTrace(3, (STEADY, STEADY, STEADY, STEADY), alerts=(300, 301, 302, 303)),
    ClientTrace(4, (STEADY, STEADY, STEADY, STEADY)),
]


def test_quality_figures_on_a_hand_made_caseload() -> None:
    quality = judge(HAND_CASELOAD, HAND_TRACES, DIGESTS)
    assert quality.client_weeks == 16
    assert quality.watch_share == 4 / 16
    assert quality.conversation_share == 2 / 16
    # Client 1's conversation falls in its rupture, client 2's in nothing.
    assert quality.precision == 1 / 2
    # ... but client 2 had reported tension not fully talked through the week before.
    assert quality.precision_with_tension == 1.0
    # The rupture reached conversation, the decline never did.
    assert quality.recall() == 1 / 2
    assert quality.recall(["rupture"]) == 1.0
    # First digest after each event's first answer: the rupture at conversation, the decline steady.
    assert quality.first_digest(conversation=True) == 1 / 2
    assert quality.first_digest(["decline"], conversation=False) == 0.0
    rupture = next(d for d in quality.detections if d.kind == "rupture")
    assert rupture.days_to_conversation == (DIGESTS[1] - _session(1)).total_seconds() / 86400
    assert next(d for d in quality.detections if d.kind == "decline").days_to_watch is None
    # Clients 2 and 3 had no event; client 2 was flagged, and at conversation.
    assert quality.event_free == 2
    assert quality.event_free_flagged_share == 1 / 2
    assert quality.event_free_conversation_share == 1 / 2
    assert quality.event_free_styles == {"ordinary": 2}
    assert quality.event_free_flagged_styles == {"ordinary": 1}
    assert quality.event_free_flagged_weeks == 4
    assert quality.event_free_rules == {"low_item": 3, "decline": 1}
    assert quality.longest_run == 3
    assert quality.longest_run_event_free == 3
    assert quality.alerts == 4
    assert quality.alerts_per_week == 1.0
    assert quality.alerts_in_event == 0
    assert quality.alerts_repeated == 2


def test_caseloads_add_up() -> None:
    one = judge(HAND_CASELOAD, HAND_TRACES, DIGESTS)
    both = merge([one, one])
    assert both.client_weeks == 32 and both.alerts_repeated == 4
    assert both.precision == one.precision and both.longest_run == 3
    assert len(both.detections) == 4
    assert both.event_free_flagged_styles == {"ordinary": 2}


def test_a_new_tension_or_a_new_event_is_news_for_an_alert() -> None:
    tense = [_record(5, 0, 2), _record(5, 1, 2, tension=2, talked_through=0)]
    talked = [_record(6, 0, 2), _record(6, 1, 2, tension=2, talked_through=2)]
    event = SimulatedEvent("rupture", _session(1), _session(1), 1.0)
    fresh = [_record(7, 0, 2), _record(7, 1, 2)]
    # Client 8 recovered in week 1 and fell back in week 2: news again.
    relapse = [_record(8, 0, 2), _record(8, 1, 4), _record(8, 2, 2)]
    caseload = [
        _client(5, tense),
        _client(6, talked),
        _client(7, fresh, event),
        _client(8, relapse),
    ]
    traces = [ClientTrace(n, (STEADY,) * 4, alerts=(n * 100, n * 100 + 1)) for n in (5, 6, 7)]
    traces.append(ClientTrace(8, (STEADY,) * 4, alerts=(800, 802)))
    # Only client 6 repeats: tension talked through adds nothing new to the low answers.
    assert judge(caseload, traces, DIGESTS).alerts_repeated == 1


def test_the_figures_tell_an_oracle_from_a_rule_that_flags_everyone() -> None:
    caseload = simulate_caseload(4, clients=30)
    digests = digest_moments(13)

    def oracle(client: SimulatedClient) -> ClientTrace:
        return ClientTrace(
            client.history.client_id,
            tuple(
                None
                if client.history.enrolled_at > moment
                else TALK
                if any(e.start <= moment <= e.end for e in client.events)
                else STEADY
                for moment in digests
            ),
        )

    def alarmist(client: SimulatedClient) -> ClientTrace:
        return ClientTrace(
            client.history.client_id,
            tuple(None if client.history.enrolled_at > m else TALK for m in digests),
        )

    good = judge(caseload, [oracle(c) for c in caseload], digests)
    bad = judge(caseload, [alarmist(c) for c in caseload], digests)
    assert good.precision == 1.0 and good.event_free_flagged_share == 0.0
    assert bad.recall() == 1.0 and bad.event_free_flagged_share == 1.0
    assert bad.precision < 0.8 and bad.conversation_share == 1.0
    assert good.conversation_share < 0.5
