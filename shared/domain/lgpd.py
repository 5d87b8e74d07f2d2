"""The leads' data rights under the LGPD (Lei 13.709/2018, art. 18: access, and deletion of personal data):
what counts as one lead's data, what an erasure record may say, and how a lead's own request is recognised."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from pydantic import BaseModel, Field

from shared.domain.ids import contact_id, contact_key, conversation_id
from shared.domain.phone import whatsapp_number_variants

# Everywhere a lead's data lives under tenants/{t}. A change that stores lead data somewhere new adds it here,
# and tests/integration/test_lgpd_erasure.py seeds every entry and proves none survives an erasure.
LEAD_COLLECTIONS = (
    "conversations", "messages", "suggestions", "contacts", "model_calls", "meetings", "outbox", "crm_deliveries",
    "crm_links", "crm_lead_holds", "learned_candidates", "knowledge_chunks", "answer_cache", "ignored_messages",
    "bookings", "slot_holds", "audits", "seller_refs", "held_alerts",
)

ERASURE_ACKNOWLEDGEMENT = ("Recebi seu pedido sobre os seus dados pessoais. Uma pessoa da nossa equipe vai cuidar "
                           "disso e te responder por aqui.")
ERASURE_HANDOFF_REASON = "LGPD: o lead pediu a exclusão (ou acesso) dos seus dados pessoais"


class LeadKeys(BaseModel):
    """Every id under which one lead's data may be filed in a tenant (ninth digit or not)."""

    tenant_id: str
    phones: list[str]
    conversation_ids: list[str]
    contact_ids: list[str]
    contact_keys: list[str]


def lead_keys(tenant_id: str, phone: str, channel_keys: list[str]) -> LeadKeys:
    """The ids a lead's documents carry, from the number a person typed (ValueError if it is not one)."""
    phones = sorted(whatsapp_number_variants(phone))
    return LeadKeys(
        tenant_id=tenant_id, phones=phones,
        conversation_ids=sorted({conversation_id(key, p) for key in channel_keys for p in phones}),
        contact_ids=sorted({contact_id(p) for p in phones}),
        contact_keys=sorted({contact_key(tenant_id, p) for p in phones}),
    )


class ErasureRecord(BaseModel):
    """tenants/{t}/erasures/{erasure_id}: who erased, when, and how much — never whose data it was."""

    erasure_id: str
    requested_by: str = Field(description="the operator (an email or service account), not the lead")
    reason: str | None = Field(default=None, max_length=500, description="e.g. a ticket number; no personal data")
    erased_at: datetime
    documents: dict[str, int] = Field(description="documents deleted per collection")
    media_objects: int = 0
    event_id: str | None = Field(default=None, description="the LeadErased event sent to the CRM integration")


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


_VERB = r"(apag|exclu|delet|remov|elimin|limp|esquec|esqueç|retir|cancel)\w*"
_DATA = r"(meus dados|minhas informacoes|meu cadastro|meus registros|meu numero|minhas mensagens|dados pessoais)"
_ERASURE = re.compile(rf"\b{_VERB}\b(\s+\w+){{0,4}}?\s+{_DATA}|\b{_DATA}\b(\s+\w+){{0,3}}?\s+\b{_VERB}|\blgpd\b")


def is_data_rights_request(text: str) -> bool:
    """A lead asking to erase (or see) their data: "apague meus dados", "quero excluir meu cadastro", "LGPD"…

    Broad on purpose: a false positive only hands one conversation to a human, a miss ignores a legal right.
    """
    return bool(_ERASURE.search(_plain(text)))
