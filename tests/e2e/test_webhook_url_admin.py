"""The migration path for gateway webhook URLs: scripts/tenancy_admin.py prints each registered channel's keyed URL
(from WEBHOOK_URL_KEY), and a provider pointed at that URL is accepted by the running webhook; a channel of another
tenant gets no URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from dev import payloads
from dev.stack import ROOT, LocalStack, wait_until

pytestmark = pytest.mark.e2e


def admin(stack: LocalStack, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack.client_env(), "PUBLIC_WEBHOOK_URL": stack.function_url("whatsapp_webhook")}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "tenancy_admin.py"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_printed_urls_are_the_ones_the_webhook_accepts_and_only_for_the_owner(stack, tenant, lead_phone):
    listed = admin(stack, "webhook-urls")
    assert listed.returncode == 0, listed.stderr
    urls = {(row["provider"], row["channel"]): row for row in map(json.loads, listed.stdout.splitlines())}
    assert {("zapi", tenant.zapi_instance), ("evolution", tenant.evolution_instance),
            ("twilio", tenant.twilio_sender)} <= set(urls)
    assert not any(provider == "meta" for provider, _ in urls), "Meta's URL is not keyed"
    zapi = urls[("zapi", tenant.zapi_instance)]
    assert zapi["tenant"] == tenant.tenant_id and "update-every-webhooks" in zapi["set_it"]

    one = admin(stack, "webhook-url", "--tenant", tenant.tenant_id, "--provider", "zapi", "--channel",
                tenant.zapi_instance)
    assert one.returncode == 0 and json.loads(one.stdout)["url"] == zapi["url"] == stack.webhook_url(
        "zapi", tenant.zapi_instance)
    foreign = admin(stack, "webhook-url", "--tenant", "someone-else", "--provider", "zapi", "--channel",
                    tenant.zapi_instance)
    assert foreign.returncode == 2 and foreign.stdout == ""

    body, headers = payloads.as_json(payloads.zapi_text(tenant.zapi_instance, lead_phone, "Ana", "3EB0ADMIN1", "Oi"))
    response = httpx.post(zapi["url"], content=body, headers=headers, timeout=10)
    assert response.status_code == 200 and response.json()["queued"] == 1
    wait_until(lambda: bool(stack.sandbox.sends_to(lead_phone)), 20, "the reply")
