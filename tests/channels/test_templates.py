"""WhatsApp message templates (issue 13 item 6): a number's approved templates are part of its channel (validated,
published in its KV snapshot for the router, listed for every role), and a template command goes out as Meta's
``type: template`` message with its body parameters."""

from __future__ import annotations

import json

from libs.contracts import OutboundMessage
from libs.contracts.messages import TemplateMessage
from libs.messaging import publish

from ..conftest import as_user

TEMPLATES = [{"name": "recordatorio_pago", "language": "es", "body": "Hola {{1}}, vence {{2}}."},
             {"name": "aviso", "language": "en_US", "body": "Notice", "status": "pending"}]


async def test_templates_are_validated_listed_and_published(channels, nats_js, unique):
    cid = f"wa-tpl-{unique}"
    base = {"id": cid, "type": "whatsapp", "app_secret": "s", "access_token": "t", "phone_number_id": "1"}
    for templates, field in (([{"name": "Hola Mundo", "body": "x"}], "config.templates[0].name"),
                             ([{"name": "a", "body": ""}], "config.templates[0].body"),
                             ([{"name": "a", "body": "x", "language": "español"}], "config.templates[0].language"),
                             ([{"name": "a", "body": "x"}, {"name": "a", "body": "y"}], "config.templates")):
        resp = await channels.post("/channels", json={**base, "config": {"templates": templates}})
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field, templates
    resp = await channels.post("/channels", json={**base, "config": {"templates": TEMPLATES}})
    assert resp.status == 201, await resp.text()
    resp = await channels.get(f"/channels/{cid}/templates", headers=as_user("channels", "agent-ana"))
    assert resp.status == 200
    got = (await resp.json())["items"]
    assert [(t["name"], t["language"], t["status"], t["parameters"]) for t in got] == [
        ("recordatorio_pago", "es", "approved", 2), ("aviso", "en_US", "pending", 0)]
    entry = await (await nats_js[1].key_value("channels")).get(cid)
    assert [t["name"] for t in json.loads(entry.value)["templates"]] == ["recordatorio_pago", "aviso"]


async def test_a_template_command_goes_out_as_metas_template_message(channels, graph_peer, nats_js, streams, unique):
    cid = f"wa-tplout-{unique}"
    resp = await channels.post("/channels", json={
        "id": cid, "type": "whatsapp", "app_secret": "s", "access_token": "tok", "phone_number_id": "777",
        "base_url": graph_peer.url, "config": {"templates": TEMPLATES}})
    assert resp.status == 201
    cmd = OutboundMessage(channel_id=cid, channel_type="whatsapp", to="+34600111222", conversation_id=f"c{unique}",
                          template=TemplateMessage(name="recordatorio_pago", language="es",
                                                   parameters=["Ana", "el lunes"]))
    await publish(nats_js[1], cmd)
    [req] = await graph_peer.wait_for(1)
    assert req["path"].endswith("/777/messages")
    assert req["body"] == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "34600111222",
                           "type": "template", "template": {
                               "name": "recordatorio_pago", "language": {"code": "es"}, "components": [{
                                   "type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                                                  {"type": "text", "text": "el lunes"}]}]}}
    [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{cid}")
    assert st["status"] == "sent" and st["outbound_id"] == cmd.id
