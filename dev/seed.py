"""Seed a demo tenant: one business, one agent, one channel per provider, pointing at the provider sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from google.cloud import firestore

from shared.adapters.firestore_store import FirestoreChannelDirectory
from shared.domain.inbound import Provider
from shared.domain.tenancy import AgentConfig, Channel, ChannelCredentials, Tenant


@dataclass(frozen=True)
class DemoTenant:
    tenant_id: str = "demo-solar"
    meta_phone_number_id: str = "106540352242922"
    evolution_instance: str = "solar-vendas"
    evolution_apikey: str = "local-evolution-apikey"
    zapi_instance: str = "3C67AB2F0E4A1B2C"
    zapi_instance_token: str = "local-zapi-instance-token"
    zapi_client_token: str = "local-zapi-client-token"
    zapi_webhook_token: str = "local-zapi-webhook-token"


def demo_agent() -> AgentConfig:
    return AgentConfig(
        agent_id="default",
        display_name="Sol",
        business_name="Solar Prime Energia",
        business_description=(
            "Instala sistemas de energia solar para casas e pequenos comércios em São Paulo. "
            "Visita técnica gratuita; financiamento em até 60x."
        ),
        persona=(
            "Você é a Sol, SDR da Solar Prime. Seja cordial e breve, descubra o consumo de energia "
            "(valor da conta de luz), o tipo de imóvel e quando o lead quer instalar, e ofereça a visita técnica."
        ),
        language="pt-BR",
    )


def seed(db: firestore.Client, sandbox_url: str, demo: DemoTenant = DemoTenant()) -> DemoTenant:
    tenant = Tenant(tenant_id=demo.tenant_id, name="Solar Prime Energia")
    tenant_ref = db.collection("tenants").document(demo.tenant_id)
    tenant_ref.set(tenant.model_dump(mode="json"))
    tenant_ref.collection("agents").document("default").set(demo_agent().model_dump(mode="json"))
    directory = FirestoreChannelDirectory(db)
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.META, channel_id=demo.meta_phone_number_id,
        display_phone="+55 11 4000-1234", credentials=ChannelCredentials(access_token="local-meta-access-token")))
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.EVOLUTION, channel_id=demo.evolution_instance,
        credentials=ChannelCredentials(api_key=demo.evolution_apikey, server_url=f"{sandbox_url}/evolution")))
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.ZAPI, channel_id=demo.zapi_instance,
        credentials=ChannelCredentials(instance_token=demo.zapi_instance_token, client_token=demo.zapi_client_token,
                                       webhook_token=demo.zapi_webhook_token)))
    return demo
