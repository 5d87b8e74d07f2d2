"""Seed a demo tenant: one business, one agent, one channel per provider, pointing at the provider sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from google.cloud import firestore

from dev.twilio_fake import TwilioFake

from shared.adapters.firestore_api_keys import FirestoreApiKeyStore
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.domain.api_keys import issue_key
from shared.domain.inbound import Provider
from shared.domain.tenancy import AgentConfig, Channel, ChannelCredentials, Seller, Tenant


@dataclass(frozen=True)
class DemoTenant:
    tenant_id: str = "demo-solar"
    meta_phone_number_id: str = "106540352242922"
    evolution_copilot_instance: str = "solar-copiloto"  # a second number whose agent works in copilot mode
    seller_phone: str = "+5511966660000"  # the seller Ana: no demo lead or test lead may use this number
    evolution_instance: str = "solar-vendas"
    evolution_apikey: str = "local-evolution-apikey"
    zapi_instance: str = "3C67AB2F0E4A1B2C"
    zapi_instance_token: str = "local-zapi-instance-token"
    zapi_client_token: str = "local-zapi-client-token"
    zapi_webhook_token: str = "local-zapi-webhook-token"
    twilio_sender: str = "+14155238886"  # the WhatsApp sender (E.164) of the Twilio account
    twilio_account_sid: str = "AC00000000000000000000000000demo01"
    twilio_auth_token: str = "local-twilio-auth-token-000000000"
    # The /chat API key of this tenant (local only: a real key comes from scripts/api_keys.py issue).
    chat_api_key_id: str = "demo0001"
    chat_api_secret: str = "local-chat-api-secret-0123456789"

    @property
    def chat_api_key(self) -> str:
        return f"pk_{self.chat_api_key_id}.{self.chat_api_secret}"


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


CATALOG = {
    "kit-4kwp": {"name": "Kit Solar Residencial 4 kWp", "price": "R$ 15.900 à vista ou 60x de R$ 389",
                 "description": "Para contas de luz de R$ 250 a R$ 450 por mês. 8 painéis de 550 W, inversor, instalação.",
                 "keywords": ["residencial", "casa", "conta", "450"], "details": {"payback": "cerca de 4 anos"}},
    "kit-8kwp": {"name": "Kit Solar Comercial 8 kWp", "price": "R$ 29.500 à vista",
                 "description": "Para contas de R$ 600 a R$ 1.000; pequenos comércios.",
                 "keywords": ["comercial", "empresa", "loja"], "details": {"payback": "cerca de 3,5 anos"}},
}


def seed(db: firestore.Client, sandbox_url: str, demo: DemoTenant = DemoTenant(),
         twilio: TwilioFake | None = None) -> DemoTenant:
    """Write the tenant's documents; `twilio` (the sandbox's Twilio fake) learns the tenant's Twilio account."""
    tenant = Tenant(tenant_id=demo.tenant_id, name="Solar Prime Energia")
    tenant_ref = db.collection("tenants").document(demo.tenant_id)
    tenant_ref.set(tenant.model_dump(mode="json"))
    agent = demo_agent()
    agent.sellers = [Seller(name="Ana", phone=demo.seller_phone, role="seller")]
    # Meta refuses free-form text outside a person's 24-hour window: alerts to a seller who has not written
    # today go as this (approved, utility) template, and the alert itself waits for the seller.
    agent.seller_template = "piloto_chamar_vendedor"
    tenant_ref.collection("agents").document("default").set(agent.model_dump(mode="json"))
    copilot = agent.model_copy(update={"agent_id": "copilot", "mode": "copilot"})
    tenant_ref.collection("agents").document("copilot").set(copilot.model_dump(mode="json"))
    for item_id, item in CATALOG.items():
        tenant_ref.collection("catalog").document(item_id).set(item)
    key = issue_key(demo.chat_api_key_id, demo.chat_api_secret)
    keys = FirestoreApiKeyStore(db)
    if keys.get_api_key(demo.tenant_id, key.key_id) is None:
        keys.save_api_key(demo.tenant_id, key.key_id, key.secret_hash, "local demo")
    # save_channel registers each number to this tenant in channel_registry (one number, one tenant).
    directory = FirestoreChannelDirectory(db)
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.META, channel_id=demo.meta_phone_number_id,
        display_phone="+55 11 4000-1234", credentials=ChannelCredentials(access_token="local-meta-access-token")))
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.EVOLUTION, channel_id=demo.evolution_copilot_instance,
        agent_id="copilot",
        credentials=ChannelCredentials(api_key=demo.evolution_apikey, server_url=f"{sandbox_url}/evolution")))
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.EVOLUTION, channel_id=demo.evolution_instance,
        credentials=ChannelCredentials(api_key=demo.evolution_apikey, server_url=f"{sandbox_url}/evolution")))
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.ZAPI, channel_id=demo.zapi_instance,
        credentials=ChannelCredentials(instance_token=demo.zapi_instance_token, client_token=demo.zapi_client_token,
                                       webhook_token=demo.zapi_webhook_token)))
    directory.save_channel(Channel(
        tenant_id=demo.tenant_id, provider=Provider.TWILIO, channel_id=demo.twilio_sender,
        credentials=ChannelCredentials(account_sid=demo.twilio_account_sid, auth_token=demo.twilio_auth_token)))
    if twilio is not None:
        twilio.add_account(demo.twilio_account_sid, demo.twilio_auth_token, [demo.twilio_sender])
    return demo
