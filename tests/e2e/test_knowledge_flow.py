"""The knowledge base end to end: a file uploaded to the Storage emulator, the CloudEvent Eventarc would
send delivered to knowledge_ingest under functions-framework, and questions asked to knowledge_lookup."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from google.cloud import storage

from dev import storage_events
from dev.stack import KNOWLEDGE_BUCKET, PROJECT, LocalStack
from tests.knowledge_helpers import KNOWLEDGE_DATA

pytestmark = pytest.mark.e2e


def deliver(stack: LocalStack, event_type: str, blob: storage.Blob, event_id: str | None = None) -> httpx.Response:
    body, headers = storage_events.event_for_blob(event_type, blob, event_id)
    return httpx.post(stack.function_url("knowledge_ingest"), content=body, headers=headers, timeout=30)


def lookup(stack: LocalStack, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(stack.function_url("knowledge_lookup"), content=content,
                      headers={"Content-Type": "application/json"}, timeout=30)


def upload(tenant_id: str, path: str, data: bytes, content_type: str) -> storage.Blob:
    blob = storage.Client(project=PROJECT).bucket(KNOWLEDGE_BUCKET).blob(f"{tenant_id}/{path}")
    blob.upload_from_string(data, content_type=content_type)
    blob.reload()
    return blob


@pytest.fixture
def tenant_id() -> str:
    return f"kb-{uuid.uuid4().hex[:10]}"


def chunks(db, tenant_id: str) -> list[dict]:  # noqa: ANN001
    return [s.to_dict() for s in db.collection("tenants").document(tenant_id).collection("knowledge_chunks").stream()]


def test_an_uploaded_document_answers_a_leads_question_through_the_lookup_function(stack, db, tenant_id):
    blob = upload(tenant_id, "default/financiamento.html", (KNOWLEDGE_DATA / "financiamento.html").read_bytes(),
                  "text/html")

    ingested = deliver(stack, storage_events.FINALIZED, blob)
    answer = lookup(stack, {"tenant_id": tenant_id, "agent_id": "default", "k": 2,
                            "question": "Vocês parcelam em quantas vezes? Precisa de entrada?"})

    assert ingested.status_code == 200
    assert len(chunks(db, tenant_id)) == 5
    assert answer.status_code == 200
    result = answer.json()
    assert result["confident"] is True and len(result["passages"]) <= 2
    top = result["passages"][0]
    assert top["source"] == "financiamento.html" and top["section"].endswith("Parcelamento")
    assert "60 parcelas" in top["text"] and 0 <= top["distance"] <= result["max_distance"]
    assert top["origin"] == "document"


def test_a_question_the_documents_do_not_answer_is_no_confident_match(stack, tenant_id):
    deliver(stack, storage_events.FINALIZED, upload(tenant_id, "shared/garantia.txt",
                                                    (KNOWLEDGE_DATA / "garantia.txt").read_bytes(), "text/plain"))

    result = lookup(stack, {"tenant_id": tenant_id, "agent_id": "default",
                            "question": "Vocês vendem carro elétrico?"})

    assert result.status_code == 200
    assert result.json()["confident"] is False and result.json()["passages"] == []


def test_a_redelivered_event_is_acknowledged_without_duplicating_chunks(stack, db, tenant_id):
    blob = upload(tenant_id, "default/garantia.txt", (KNOWLEDGE_DATA / "garantia.txt").read_bytes(), "text/plain")

    first = deliver(stack, storage_events.FINALIZED, blob, event_id="1234567890")
    again = deliver(stack, storage_events.FINALIZED, blob, event_id="1234567890")

    assert (first.status_code, again.status_code) == (200, 200)
    assert len(chunks(db, tenant_id)) == 4


def test_deleting_the_file_removes_what_it_answered(stack, db, tenant_id):
    blob = upload(tenant_id, "default/garantia.txt", (KNOWLEDGE_DATA / "garantia.txt").read_bytes(), "text/plain")
    deliver(stack, storage_events.FINALIZED, blob)
    blob.delete()

    response = deliver(stack, storage_events.DELETED, blob)

    assert response.status_code == 200 and chunks(db, tenant_id) == []
    result = lookup(stack, {"tenant_id": tenant_id, "question": "Quantos anos de garantia tem o inversor?"})
    assert result.json()["confident"] is False


def test_events_the_knowledge_base_cannot_use_are_acknowledged_and_write_nothing(stack, db, tenant_id):
    blob = upload(tenant_id, "default/garantia.txt", b"GARANTIA\n\nDez anos.", "text/plain")
    resource = storage_events.object_resource(KNOWLEDGE_BUCKET, blob.name, blob.generation, 10, "text/plain")

    wrong_layout = storage_events.cloud_event(storage_events.FINALIZED, {**resource, "name": f"{tenant_id}/x.txt"})
    metadata_update = storage_events.cloud_event("google.cloud.storage.object.v1.metadataUpdated", resource)
    for body, headers in (wrong_layout, metadata_update):
        response = httpx.post(stack.function_url("knowledge_ingest"), content=body, headers=headers, timeout=30)
        assert response.status_code == 200, "a redelivery would carry the same event: acknowledge it"

    assert chunks(db, tenant_id) == []
    assert list(db.collection("tenants").document(tenant_id).collection("knowledge_sources").stream()) == []


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    ({"agent_id": "default", "question": "oi"}, 400),  # no tenant
    ({"tenant_id": "acme", "question": "   "}, 400),
    ({"tenant_id": "acme", "question": "oi", "k": 50}, 400),
    ({"tenant_id": "../etc", "question": "oi"}, 400),
    ({"tenant_id": "acme", "question": "oi", "admin": True}, 400),
])
def test_bad_lookup_requests_get_400_with_a_reason(stack, body, status):
    response = lookup(stack, body)

    assert response.status_code == status
    assert response.json()["reason"] and "Traceback" not in response.text


def test_the_lookup_function_only_answers_post(stack):
    assert httpx.get(stack.function_url("knowledge_lookup"), timeout=10).status_code == 405


def test_a_recorded_eventarc_delivery_is_understood(stack, db, tenant_id):
    recorded = json.loads((KNOWLEDGE_DATA.parent / "storage" / "eventarc_object_finalized.json").read_text())
    blob = upload(tenant_id, "shared/garantia.txt", (KNOWLEDGE_DATA / "garantia.txt").read_bytes(), "text/plain")
    body = {**recorded["body"], "bucket": KNOWLEDGE_BUCKET, "name": blob.name, "generation": str(blob.generation),
            "size": str(blob.size)}
    headers = {**recorded["headers"], "ce-source": f"//storage.googleapis.com/projects/_/buckets/{KNOWLEDGE_BUCKET}",
               "ce-subject": f"objects/{blob.name}"}

    response = httpx.post(stack.function_url("knowledge_ingest"), content=json.dumps(body).encode(), headers=headers,
                          timeout=30)

    assert response.status_code == 200
    assert {c["source"] for c in chunks(db, tenant_id)} == {"garantia.txt"}
    generated_body, generated_headers = storage_events.event_for_blob(storage_events.FINALIZED, blob)
    assert set(recorded["headers"]) <= set(generated_headers), "the demo's events carry every header Eventarc sends"
    assert {"bucket", "name", "generation", "size", "contentType"} <= set(json.loads(generated_body))
