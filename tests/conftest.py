"""Fixtures: one local stack (real emulators + functions under functions-framework) per test session.

Tests that do not ask for `stack` (or a fixture built on it) run without any emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dev.seed import DemoTenant, seed
from dev.stack import LocalStack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack(debounce_seconds=1.0) as running:
        yield running


@pytest.fixture(scope="session")
def db(stack: LocalStack):  # noqa: ANN201 - google.cloud imported lazily for unit-only runs
    from google.cloud import firestore

    return firestore.Client(project=stack.client_env()["GOOGLE_CLOUD_PROJECT"])


@pytest.fixture
def tenant(stack: LocalStack, db) -> DemoTenant:  # noqa: ANN001
    """A freshly seeded tenant whose channel ids no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    assert stack.sandbox is not None
    return seed(db, stack.sandbox.url, DemoTenant(
        tenant_id=f"t-{suffix}",
        meta_phone_number_id=str(int(suffix, 16))[:15],
        evolution_copilot_instance=f"evo-copilot-{suffix}",
        evolution_instance=f"evo-{suffix}",
        zapi_instance=f"Z{suffix.upper()}",
        twilio_sender=f"+1415{int(suffix, 16) % 10_000_000:07d}",
        twilio_account_sid=f"AC{suffix}{'0' * 22}",
    ), twilio=stack.sandbox.twilio)


@pytest.fixture
def lead_phone() -> str:
    """A Brazilian mobile number (digits, no '+') unique to the test."""
    return "55119" + str(uuid.uuid4().int)[:8]
