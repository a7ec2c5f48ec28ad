"""Staffing from traffic: Erlang C (callers wait forever) and Erlang A (callers give up), pure functions.

A campaign's interval has an arrival rate ``calls`` per ``interval_s`` and an average handle time
``aht_s``; its offered load is ``A = calls * aht_s / interval_s`` Erlangs. The service level is the share of
contacts answered within ``threshold_s`` (the "80" of 80/20 is the target, the "20" the threshold).

Erlang C (M/M/N): the probability that a contact waits is ``C(N, A)``, computed through Erlang B's stable
recursion; ``SL = 1 - C * exp(-(N - A) * T / AHT)``; ``ASA = C * AHT / (N - A)``.

Erlang A (M/M/N+M, Palm): waiting contacts abandon at rate ``1 / patience_s``. The system's states are the
contacts present (birth-death chain, truncated where the tail is negligible); a contact arriving (PASTA) to
``k >= N`` present has ``k - N`` ahead of it in the queue and is answered within ``T`` with the probability
computed exactly by uniformization of its own pure-death path to a server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 5000


@dataclass(frozen=True)
class Staffing:
    """The agents one interval needs, and what that number of agents gives."""

    agents: int
    load_erlangs: float
    service_level: float  # 0..1: answered within the threshold, of all contacts
    asa_s: float | None  # average speed of answer (Erlang C: of all contacts, waits of 0 included; A: None)
    occupancy: float  # 0..1
    wait_probability: float
    abandonment: float = 0.0  # Erlang A: the share that gives up


def offered_load(calls: float, aht_s: float, interval_s: float) -> float:
    """Erlangs offered: arrivals times the handle time, over the interval's length."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    return max(0.0, calls) * max(0.0, aht_s) / interval_s


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of an M/M/N/N system (the stable recursion: no factorials)."""
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """The probability that a contact waits, for ``agents`` serving ``load`` Erlangs (1 when N <= A)."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1 - b))


def service_level_c(agents: int, load: float, aht_s: float, threshold_s: float) -> float:
    """Erlang C: the share of contacts answered within ``threshold_s``."""
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    c = erlang_c(agents, load)
    return max(0.0, 1.0 - c * math.exp(-(agents - load) * threshold_s / aht_s))


def asa_c(agents: int, load: float, aht_s: float) -> float:
    """Erlang C: the average wait of all contacts (infinite when the agents cannot keep up)."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return math.inf
    return erlang_c(agents, load) * aht_s / (agents - load)


def agents_erlang_c(calls: float, aht_s: float, interval_s: float, threshold_s: float, target: float,
                    max_agents: int = MAX_AGENTS) -> Staffing:
    """The fewest agents whose Erlang C service level reaches ``target`` (0..1).

    Raises:
        ValueError: the target needs more than ``max_agents``.
    """
    load = offered_load(calls, aht_s, interval_s)
    if load <= 0:
        return Staffing(0, 0.0, 1.0, 0.0, 0.0, 0.0)
    n = max(1, math.floor(load) + 1)
    while n <= max_agents:
        sl = service_level_c(n, load, aht_s, threshold_s)
        if sl >= target:
            return Staffing(n, load, sl, asa_c(n, load, aht_s), load / n, erlang_c(n, load))
        n += 1
    raise ValueError(f"more than {max_agents} agents would be needed")


# ---------------------------------------------------------------------------------------------- Erlang A

def _states_a(agents: int, lam: float, mu: float, theta: float, eps: float = 1e-12) -> list[float]:
    """Steady-state probabilities of M/M/N+M by number present, truncated where the tail is below ``eps``."""
    logs = [0.0]
    for k in range(1, agents + 1):
        logs.append(logs[-1] + math.log(lam / (k * mu)) if lam > 0 else -math.inf)
    k = agents
    while True:
        k += 1
        rate = agents * mu + (k - agents) * theta
        logs.append(logs[-1] + math.log(lam / rate))
        # Past the mode the terms fall; stop when one is negligible against the largest.
        if rate > lam and logs[-1] - max(logs) < math.log(eps):
            break
        if k > agents + 100_000:
            break
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _served_within(max_ahead: int, agents: int, mu: float, theta: float, t: float) -> list[float]:
    """For every ``i`` in ``0..max_ahead`` contacts ahead: the probability that a waiting contact reaches an
    agent by ``t``.

    While ``i`` are ahead, the line moves at ``N*mu + i*theta`` (a service ends or one ahead gives up) and the
    contact itself gives up at ``theta``; with none ahead it is answered at ``N*mu``. Uniformization of this
    absorbing chain (one rate for every state) gives ``sum_n Poisson(n; rate*t) * a_n(i)``, where ``a_n(i)`` is
    the probability of being answered within ``n`` steps from ``i``; all starts are computed together.
    """
    service = agents * mu
    big = service + max_ahead * theta + theta
    x = big * t
    a = [0.0] * (max_ahead + 1)
    total = [0.0] * (max_ahead + 1)
    max_n = int(x + 12 * math.sqrt(x + 1) + 50)
    log_w = -x  # Poisson weight of n = 0 (a_0 is all zeros)
    used = math.exp(log_w)
    for n in range(1, max_n + 1):
        prev = a
        a = [0.0] * (max_ahead + 1)
        a[0] = (1.0 - (service + theta) / big) * prev[0] + service / big
        for i in range(1, max_ahead + 1):
            move = (service + i * theta) / big
            a[i] = (1.0 - move - theta / big) * prev[i] + move * prev[i - 1]
        log_w += math.log(x / n) if x > 0 else -math.inf
        w = math.exp(log_w)
        used += w
        for i in range(max_ahead + 1):
            total[i] += w * a[i]
    # The Poisson tail past max_n is negligible; give it the last step's probabilities.
    return [v + (1.0 - used) * a[i] for i, v in enumerate(total)]


def service_level_a(agents: int, calls: float, aht_s: float, interval_s: float, patience_s: float,
                    threshold_s: float) -> tuple[float, float, float]:
    """Erlang A: (share answered within the threshold, share that abandons, probability of waiting)."""
    lam = calls / interval_s
    if lam <= 0:
        return 1.0, 0.0, 0.0
    if agents <= 0:
        return 0.0, 1.0, 1.0
    mu = 1.0 / aht_s
    theta = 1.0 / patience_s if patience_s > 0 else 0.0
    if theta == 0.0:
        load = lam / mu
        return service_level_c(agents, load, aht_s, threshold_s), 0.0, erlang_c(agents, load)
    pi = _states_a(agents, lam, mu, theta)
    within = sum(pi[:agents])
    waits = 1.0 - within
    abandon = 0.0
    reach = _served_within(len(pi) - 1 - agents, agents, mu, theta, threshold_s)
    within += sum(pi[k] * reach[k - agents] for k in range(agents, len(pi)))
    # Abandonment: in steady state, theta * E[queue length] / lambda.
    queue = sum((k - agents) * pi[k] for k in range(agents, len(pi)))
    abandon = theta * queue / lam
    return min(1.0, within), min(1.0, abandon), waits


def agents_erlang_a(calls: float, aht_s: float, interval_s: float, patience_s: float, threshold_s: float,
                    target: float, max_agents: int = MAX_AGENTS) -> Staffing:
    """The fewest agents whose Erlang A service level reaches ``target`` (0..1), with abandonment.

    Raises:
        ValueError: the target needs more than ``max_agents``.
    """
    load = offered_load(calls, aht_s, interval_s)
    if load <= 0:
        return Staffing(0, 0.0, 1.0, 0.0, 0.0, 0.0)
    # Abandonment only helps the ones who stay: start low and climb.
    n = max(1, math.floor(load * 0.5))
    while n <= max_agents:
        sl, abandon, waits = service_level_a(n, calls, aht_s, interval_s, patience_s, threshold_s)
        if sl >= target:
            served_load = load * (1 - abandon)
            return Staffing(n, load, sl, None, min(1.0, served_load / n), waits, abandon)
        n += 1
    raise ValueError(f"more than {max_agents} agents would be needed")


def patience_estimate(abandoned: int, total_wait_s: float) -> float | None:
    """The mean patience of an exponential model: total time waited by everyone (answered and abandoned)
    over the number who gave up (the maximum-likelihood estimate); ``None`` with no abandonment."""
    if abandoned <= 0 or total_wait_s <= 0:
        return None
    return total_wait_s / abandoned
