"""The one campaign snapshot directory: indexes by channel, agent and supervisor, and bad values refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.contracts import CampaignSnapshot
from libs.messaging import SnapshotDirectory


def snap(cid: str, **kw: object) -> dict[str, object]:
    return CampaignSnapshot.model_validate({"id": cid, "name": cid.upper(), **kw}).model_dump(mode="json")


def test_changes_keep_every_index_current():
    d = SnapshotDirectory()
    d.apply("a", snap("a", channels=[{"id": "wa-1", "type": "whatsapp"}], agents=["ana", "bob"], supervisors=["sof"]))
    d.apply("b", snap("b", channels=[{"id": "wa-2", "type": "whatsapp"}], agents=["ana"], status="paused"))
    assert d.get("a").name == "A" and d.get(None) is None and len(d) == 2
    assert d.for_channel("wa-1").id == "a"
    assert d.for_channel("wa-2") is None  # a paused campaign routes nothing
    assert d.campaigns_of("ana") == ["a", "b"] and d.supervised_by("sof") == {"a"}
    assert d.agents_of(["a", "b", "ghost"]) == {"ana", "bob"}
    # A new version moves the channel and the members; a deleted key forgets everything it indexed.
    d.apply("a", snap("a", channels=[{"id": "wa-3", "type": "whatsapp"}], agents=["bob"], supervisors=[]))
    assert d.for_channel("wa-1") is None and d.for_channel("wa-3").id == "a"
    assert d.campaigns_of("ana") == ["b"] and d.supervised_by("sof") == set()
    d.apply("a", None)
    assert d.get("a") is None and d.for_channel("wa-3") is None and d.campaigns_of("bob") == []
    assert [s.id for s in d] == ["b"]


def test_an_invalid_value_leaves_the_previous_snapshot():
    d = SnapshotDirectory()
    d.apply("a", snap("a", agents=["ana"]))
    with pytest.raises(ValidationError):
        d.apply("a", {"id": "a"})  # no name
    assert d.on_change("a", {"id": "a", "routing": {"agent_capacity": "many"}}).name == "A"
    assert d.campaigns_of("ana") == ["a"]
    d.put(CampaignSnapshot(id="c", name="C", agents=["carla"]))
    assert d.campaigns_of("carla") == ["c"]
