"""Erlang C and Erlang A against published tables (pure functions: no services)."""

from __future__ import annotations

import math

import pytest

from services.crm.domain import staffing

# Erlang C probability of waiting C(N, A), as printed in the standard tables (4 decimals).
ERLANG_C_TABLE = [
    (1.0, 2, 0.3333),
    (2.0, 3, 0.4444),
    (10.0, 11, 0.6821),
    (10.0, 12, 0.4494),
    (10.0, 13, 0.2853),
    (10.0, 14, 0.1741),
    (10.0, 15, 0.1020),
]


@pytest.mark.parametrize(("load", "agents", "published"), ERLANG_C_TABLE)
def test_erlang_c_probability_of_waiting_matches_the_table(load, agents, published):
    assert round(staffing.erlang_c(agents, load), 4) == published


# The classic worked example: 100 contacts per 30 minutes, AHT 180 s, 80 % answered within 20 s.
# Published answer: 10 Erlangs, 14 agents, service level 88.8 %, ASA 7.8 s, occupancy 71.4 %
# (13 agents give only 79.6 %).
def test_the_published_worked_example():
    s = staffing.agents_erlang_c(100, 180, 1800, 20, 0.80)
    assert s.load_erlangs == pytest.approx(10.0)
    assert s.agents == 14
    assert round(100 * s.service_level, 1) == 88.8
    assert round(s.asa_s or 0, 1) == 7.8
    assert round(100 * s.occupancy, 1) == 71.4
    assert round(100 * staffing.service_level_c(13, 10.0, 180, 20), 1) == 79.6


def _textbook_erlang_c(n: int, a: float) -> float:
    """The textbook formula with factorials, independent of the module's recursion."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("calls", "aht", "interval", "threshold", "target"), [
    (100, 180, 1800, 20, 0.80), (100, 180, 1800, 20, 0.70), (100, 180, 1800, 60, 0.80),
    (200, 180, 1800, 20, 0.80), (10, 300, 1800, 30, 0.80), (37, 240, 900, 15, 0.90),
])
def test_agents_needed_is_the_fewest_that_reach_the_target(calls, aht, interval, threshold, target):
    s = staffing.agents_erlang_c(calls, aht, interval, threshold, target)
    load = calls * aht / interval

    def sl(n: int) -> float:
        return 1 - _textbook_erlang_c(n, load) * math.exp(-(n - load) * threshold / aht)

    assert sl(s.agents) >= target
    assert s.agents - 1 <= load or sl(s.agents - 1) < target
    assert s.service_level == pytest.approx(sl(s.agents), abs=1e-9)


def test_no_traffic_needs_no_agents():
    assert staffing.agents_erlang_c(0, 180, 1800, 20, 0.8).agents == 0


def test_erlang_b_and_c_edges():
    assert staffing.erlang_b(0, 5.0) == 1.0
    assert staffing.erlang_c(5, 5.0) == 1.0  # as many agents as Erlangs: everyone waits, the queue grows
    assert staffing.erlang_c(3, 0.0) == 0.0
    assert staffing.service_level_c(10, 12.0, 180, 20) == 0.0
    assert math.isinf(staffing.asa_c(10, 12.0, 180))
    with pytest.raises(ValueError):
        staffing.agents_erlang_c(10**7, 180, 1800, 20, 0.8, max_agents=100)


def test_erlang_a_with_endless_patience_is_erlang_c():
    sl, abandon, waits = staffing.service_level_a(13, 100, 180, 1800, 1e9, 20)
    assert sl == pytest.approx(staffing.service_level_c(13, 10.0, 180, 20), abs=1e-6)
    assert abandon == pytest.approx(0.0, abs=1e-6)
    assert waits == pytest.approx(staffing.erlang_c(13, 10.0), abs=1e-6)


def test_erlang_a_abandonment_lowers_the_agents_needed_and_is_reported():
    # Customers who give up after 2 minutes on average: fewer agents reach 80/20 than Erlang C says, at the
    # price of abandonment; with less patience, more give up.
    c = staffing.agents_erlang_c(100, 180, 1800, 20, 0.8)
    a = staffing.agents_erlang_a(100, 180, 1800, 120, 20, 0.8)
    assert a.agents < c.agents
    assert 0 < a.abandonment < 0.2
    impatient = staffing.agents_erlang_a(100, 180, 1800, 30, 20, 0.8)
    assert impatient.agents <= a.agents
    sl_a, abandon_a, _ = staffing.service_level_a(12, 100, 180, 1800, 120, 20)
    sl_b, abandon_b, _ = staffing.service_level_a(12, 100, 180, 1800, 30, 20)
    assert abandon_b > abandon_a
    assert 0 < sl_a < 1 and 0 < sl_b < 1


def test_erlang_a_service_level_rises_with_agents():
    levels = [staffing.service_level_a(n, 100, 180, 1800, 120, 20)[0] for n in range(8, 16)]
    assert levels == sorted(levels)
    assert levels[-1] > 0.95


def test_patience_estimate():
    assert staffing.patience_estimate(0, 100.0) is None
    assert staffing.patience_estimate(4, 1000.0) == 250.0
