"""Benchmark: replay a 200-turn conversation through the agent turn and show that the prompt and the
Firestore reads per turn stay flat (rolling summary + bounded window). Not a test: it prints a table.

    .venv/bin/python -m bench.memory_growth [--turns 200]
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore

from dev.seed import seed
from dev.stack import PROJECT, ROOT, LocalStack
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_leads import FirestoreLeadStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.adapters.offline_model import OfflineModel
from shared.domain.conversation import InboundDisposition, Role, StoredMessage
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.inbound import Provider
from shared.domain.memory import estimate_tokens
from shared.domain.tenancy import channel_key
from shared.ports import Generation, Prompt, TurnRequest
from shared.services.agent_turn import TurnDeps, run_agent_turn

LEAD_LINES = [
    "Estou pensando em colocar energia solar aqui em casa, a conta anda bem alta ultimamente",
    "Moro em Campinas, casa térrea com telhado cerâmico virado para o norte",
    "Vocês fazem a homologação com a distribuidora ou fica por minha conta?",
    "E se eu quiser ampliar o sistema daqui a uns dois anos, dá para aproveitar o inversor?",
    "Minha esposa perguntou sobre a limpeza dos painéis, precisa contratar alguém?",
]


class CountingStore:
    """Counts the documents each turn reads from Firestore."""

    def __init__(self, inner: FirestoreConversationStore) -> None:
        self.inner, self.docs_read = inner, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "recent_messages":
            def counted(*args: Any, **kwargs: Any) -> Any:
                result = attr(*args, **kwargs)
                self.docs_read += max(1, len(result))
                return result
            return counted
        if name in ("get_conversation", "claim_reply", "message_exists"):
            def one(*args: Any, **kwargs: Any) -> Any:
                self.docs_read += 1
                return attr(*args, **kwargs)
            return one
        return attr


class MeasuringModel:
    """The offline model, remembering the size of every reply prompt it was given."""

    def __init__(self) -> None:
        self.inner, self.reply_prompts = OfflineModel(), []

    def generate(self, prompt: Prompt) -> Generation:
        if prompt.purpose == "reply":
            text = prompt.system + "".join(t.text for t in prompt.turns)
            self.reply_prompts.append((estimate_tokens(text), len(prompt.turns)))
        return self.inner.generate(prompt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    with LocalStack(run_dir=ROOT / ".run" / "bench-memory", functions={}) as stack:
        db = firestore.Client(project=PROJECT)
        assert stack.sandbox is not None
        tenant = seed(db, stack.sandbox.url)
        store = CountingStore(FirestoreConversationStore(db))
        model = MeasuringModel()

        class Sink:
            def send_text(self, channel: Any, to: str, text: str) -> str:
                return f"wamid.{uuid.uuid4().hex}"

        deps = TurnDeps(directory=FirestoreChannelDirectory(db), store=store, model=model,
                        sender_for=lambda provider: Sink(), ledger=FirestoreUsageLedger(db),
                        leads=FirestoreLeadStore(db), tiers=dict.fromkeys(("lite", "standard", "advanced"), "offline"))
        key = channel_key("meta", tenant.meta_phone_number_id)
        phone = "+5519988887777"
        conv = conversation_id(key, phone)
        start = datetime.now(UTC)
        rows = []
        for turn_no in range(1, args.turns + 1):
            message_id = inbound_message_id("meta", tenant.meta_phone_number_id, f"bench-{turn_no}")
            text = f"{LEAD_LINES[turn_no % len(LEAD_LINES)]} (mensagem {turn_no})"
            store.inner.record_inbound(tenant.tenant_id, conv, StoredMessage(
                message_id=message_id, role=Role.LEAD, text=text, provider=Provider.META,
                provider_message_id=message_id, contact_name="Paula", sent_at=start + timedelta(seconds=turn_no),
                disposition=InboundDisposition.QUEUED))
            before = store.docs_read
            run_agent_turn(TurnRequest(tenant.tenant_id, conv, message_id, key, phone), deps)
            if turn_no in (10, 50, 100, 150, 200) or turn_no == args.turns:
                tokens, turns = model.reply_prompts[-1]
                summary = store.inner.get_conversation(tenant.tenant_id, conv).summary or ""
                rows.append((turn_no, tokens, turns, len(summary), store.docs_read - before))
    print(f"\n{'turn':>5}{'prompt tokens':>15}{'prompt turns':>14}{'summary chars':>15}{'docs read':>11}")
    for row in rows:
        print(f"{row[0]:>5}{row[1]:>15}{row[2]:>14}{row[3]:>15}{row[4]:>11}")
    print("prompt tokens are estimated (4 chars/token) from the exact prompt text sent to the model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
