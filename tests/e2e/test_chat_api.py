"""The /chat API served by functions-framework: the same brain and memory, without WhatsApp."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_chat_answers_with_metrics_tools_and_memory(stack, tenant):
    url = stack.function_url("chat_api")
    user = f"tester-{uuid.uuid4().hex[:6]}"

    first = httpx.post(url, json={"tenant_id": tenant.tenant_id, "user_id": user, "message": "Oi!"}, timeout=30)
    second = httpx.post(url, json={"tenant_id": tenant.tenant_id, "user_id": user,
                                   "message": "Minha conta de luz é R$ 500, é casa própria"}, timeout=30)

    assert first.status_code == 200 and second.status_code == 200
    body = second.json()
    assert set(body) >= {"response", "model", "tokens_used", "context_size", "memory", "tool_calls", "cost_usd",
                         "latency_ms"}
    assert body["model"] == "offline-template" and body["tokens_used"] > 0
    assert body["memory"]["messages_in_window"] == 3  # Oi, our reply, this message
    assert [c["name"] for c in body["tool_calls"]] == ["update_lead"]
    assert "R$ 500" in body["response"] or "Anotado" in body["response"]


def test_chat_refuses_a_malformed_body_with_a_reason(stack):
    response = httpx.post(stack.function_url("chat_api"), json={"tenant_id": "t"}, timeout=10)
    assert response.status_code == 400 and "user_id" in response.json()["reason"]
