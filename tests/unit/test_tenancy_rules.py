"""Configuration documents are read strictly; API keys and data-rights requests follow their rules."""

from __future__ import annotations

import pytest

from shared.domain.api_keys import issue_key, key_matches, split_key
from shared.domain.config_document import parse_config
from shared.domain.crm import CrmConfig
from shared.domain.errors import Forbidden, InvalidConfiguration
from shared.domain.lgpd import is_data_rights_request, lead_keys
from shared.domain.tenancy import AgentConfig, Channel, Tenant


@pytest.mark.parametrize("model,doc,path,field", [
    (AgentConfig, {"mdoe": "copilot"}, "tenants/acme/agents/default", "mdoe"),
    (AgentConfig, {"history_limit": 2}, "tenants/acme/agents/default", "history_limit"),
    (AgentConfig, {"followup": {"enabled": True, "stpes": []}}, "tenants/acme/agents/default", "followup.stpes"),
    (Tenant, {"tenant_id": "acme", "name": "Acme", "actve": False}, "tenants/acme", "actve"),
    (Channel, {"tenant_id": "acme", "provider": "meta", "channel_id": "1", "credentials": {"token": "s3cr3t"}},
     "tenants/acme/channels/meta:1", "credentials.token"),
    (Channel, {"tenant_id": "acme", "provider": "api", "channel_id": "chat"}, "tenants/acme/channels/api:chat",
     "(document)"),
    (Channel, {"tenant_id": "acme", "provider": "meta", "channel_id": "1", "channel_key": "meta:2"},
     "tenants/acme/channels/meta:1", "channel_key"),
    (CrmConfig, {"kind": "webhook", "webhook": {"url": "https://x.example", "secret": "s" * 16, "secert": "x"}},
     "tenants/acme/integrations/crm", "webhook.secert"),
])
def test_a_document_with_an_unknown_field_or_bad_value_names_its_path_and_field(model, doc, path, field):
    with pytest.raises(InvalidConfiguration) as err:
        parse_config(model, doc, path)
    assert err.value.path == path and str(err.value).startswith(f"{path}: ")
    assert field in str(err.value) or (field == "(document)" and "WhatsApp provider" in str(err.value))
    assert "s3cr3t" not in str(err.value), "values are never echoed (they may be credentials)"


def test_an_invalid_agent_carries_its_seller_phone_so_the_seller_can_be_alerted():
    with pytest.raises(InvalidConfiguration) as err:
        parse_config(AgentConfig, {"mdoe": "x", "seller_phone": "+5511944443333"}, "tenants/a/agents/default")
    assert err.value.alert_phone == "+5511944443333"


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "__x__", "", "x" * 129, "ação"])
def test_ids_that_are_no_safe_document_id_are_refused(bad):
    with pytest.raises(InvalidConfiguration):
        parse_config(Tenant, {"tenant_id": bad, "name": "x"}, "tenants/?")


def test_api_keys_are_checked_against_their_hash_only():
    key = issue_key()
    key_id, secret = split_key(key.api_key)
    assert key_id == key.key_id and key_matches(secret, key.secret_hash)
    assert secret not in key.secret_hash and not key_matches(secret + "x", key.secret_hash)
    with pytest.raises(Forbidden):
        split_key("Bearer something")


@pytest.mark.parametrize("text,expected", [
    ("Apaguem meus dados, por favor", True), ("quero excluir meu cadastro", True), ("LGPD: quero meus dados", True),
    ("meus dados podem ser removidos?", True), ("Quero que esqueçam meu número", True),
    ("Quanto custa o kit?", False), ("apaga a mensagem anterior", False), ("vou cancelar a visita", False),
])
def test_data_rights_requests_are_recognised(text, expected):
    assert is_data_rights_request(text) is expected


def test_a_typed_number_finds_the_whatsapp_id_with_or_without_the_ninth_digit():
    typed = lead_keys("acme", "+55 11 98765-4321", ["meta:1"])
    stored = lead_keys("acme", "+551187654321", ["meta:1"])
    assert typed.conversation_ids == stored.conversation_ids and len(typed.phones) == 2
