"""The chaos ledger, short (``bench.chaos --quick``): about 1,600 webhooks through every service run as processes,
one fault of each kind (kill -9 of a service, NATS, Redis emptied, Redis back from its AOF, a rolling restart),
and every count that must be 0 is 0. Deterministic given its seed (the webhooks, the faults and their order);
about a minute and a half on two busy cores. Exclude it locally with ``-m "not chaos"``; ``make test`` runs it.
"""

from __future__ import annotations

import pytest

from bench import chaos

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


async def test_nothing_is_lost_duplicated_or_double_assigned_under_faults(tmp_path):
    args = chaos.parse_args(["--events", "1600", "--rate", "40", "--agents", "12", "--quick", "--seed", "18",
                             "--settle-s", "180", "--keep-logs", str(tmp_path / "logs")])
    lines, failed = await chaos.run(args)
    assert not failed, "\n".join([*lines, f"service logs: {tmp_path / 'logs'}"])
