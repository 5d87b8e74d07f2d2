"""main.py exports every entry point, but loading one must not import the others' dependencies."""

import json
import subprocess
import sys

import pytest

import main

HEAVY = ["google.genai", "httpx", "google.cloud.tasks_v2", "google.cloud.firestore", "google.cloud.pubsub_v1",
         "google.cloud.storage", "pypdf", "docx", "phonenumbers", "numpy", "soundfile"]


def _modules_after_loading(target: str) -> set[str]:
    code = (
        "import sys, json, main; getattr(main, sys.argv[1]);"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code, target], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_main_lists_every_entry_point_and_resolves_each():
    assert main.__all__ == ["agent_turn", "chat_api", "conversation_audit", "crm_sync", "followup_sweep",
                            "followup_turn", "knowledge_ingest", "knowledge_lookup", "lgpd_admin", "media_processor",
                            "metrics_rollup", "outbox_drain", "tenant_report", "voice_admin", "weekly_digest", "whatsapp_webhook"]
    for name in main.__all__:
        assert callable(getattr(main, name))
    with pytest.raises(AttributeError):
        getattr(main, "not_a_function")


def test_the_lgpd_admin_loads_no_model_sdk_tasks_pubsub_or_storage_client_before_a_request():
    loaded = _modules_after_loading("lgpd_admin")
    assert not loaded & {"google.genai", "google.cloud.tasks_v2", "google.cloud.pubsub_v1", "google.cloud.storage",
                         "httpx", "pypdf", "docx"}


def test_the_voice_admin_loads_no_model_sdk_tasks_or_pubsub_client_before_a_request():
    loaded = _modules_after_loading("voice_admin")
    assert not loaded & {"google.genai", "google.cloud.tasks_v2", "google.cloud.pubsub_v1", "google.cloud.storage",
                         "httpx", "pypdf", "docx", "numpy", "soundfile"}  # the decoder loads on the first upload


def test_the_webhook_loads_neither_the_model_sdk_nor_httpx():
    loaded = _modules_after_loading("whatsapp_webhook")
    assert "google.genai" not in loaded and "httpx" not in loaded


def test_the_agent_turn_loads_no_cloud_tasks_client():
    loaded = _modules_after_loading("agent_turn")
    assert "google.cloud.tasks_v2" not in loaded and "google.genai" not in loaded
    # the Calendar adapter and its credentials load on the first turn of an agent with a calendar
    assert not loaded & {"shared.adapters.google_calendar", "google.auth.impersonated_credentials"}


def test_crm_sync_loads_neither_the_model_sdk_nor_pubsub_nor_cloud_tasks():
    loaded = _modules_after_loading("crm_sync")
    assert not loaded & {"google.genai", "google.cloud.pubsub_v1", "google.cloud.tasks_v2", "google.cloud.storage"}


def test_the_outbox_drain_loads_neither_the_model_sdk_nor_httpx_nor_cloud_tasks():
    loaded = _modules_after_loading("outbox_drain")
    assert not loaded & {"google.genai", "httpx", "google.cloud.tasks_v2"}


def test_no_function_loads_libphonenumber_s_metadata_before_a_number_is_parsed():
    for target in ("whatsapp_webhook", "agent_turn", "crm_sync"):
        assert "phonenumbers" not in _modules_after_loading(target)


def test_the_webhook_does_not_load_pubsub_events_leave_from_the_turn_not_the_hot_path():
    assert "google.cloud.pubsub_v1" not in _modules_after_loading("whatsapp_webhook")


def test_the_webhook_loads_no_document_readers_or_storage_client():
    loaded = _modules_after_loading("whatsapp_webhook")
    assert not loaded & {"pypdf", "docx", "google.cloud.storage"}


def test_the_media_processor_loads_its_clients_and_readers_only_when_a_task_arrives():
    # Every one of these is imported by the first task (the model SDK only with the vertex backend, the PDF
    # and DOCX readers only for such files); an instance that is just starting pays for none of them.
    loaded = _modules_after_loading("media_processor")
    assert not loaded & {"google.genai", "google.cloud.storage", "google.cloud.tasks_v2", "pypdf", "docx", "httpx"}


def test_the_knowledge_lookup_loads_neither_storage_nor_tasks_nor_the_model_sdk_nor_file_parsers():
    loaded = _modules_after_loading("knowledge_lookup")
    assert not loaded & {"google.cloud.storage", "google.cloud.tasks_v2", "google.genai", "pypdf", "docx", "httpx"}


def test_the_knowledge_ingestion_loads_no_tasks_client_and_no_parser_or_model_sdk_before_a_file_needs_one():
    loaded = _modules_after_loading("knowledge_ingest")
    assert not loaded & {"google.cloud.tasks_v2", "google.genai", "pypdf", "docx", "httpx"}


def test_the_follow_up_functions_load_neither_the_model_sdk_nor_pubsub_nor_storage_until_used():
    assert "shared.services.reminders" not in _modules_after_loading("followup_turn")  # loaded by reminder tasks
    for target in ("followup_turn", "followup_sweep"):
        loaded = _modules_after_loading(target)
        assert not loaded & {"google.genai", "google.cloud.pubsub_v1", "google.cloud.storage", "pypdf", "docx"}


def test_the_business_metrics_functions_load_only_firestore():
    for target in ("metrics_rollup", "tenant_report"):
        loaded = _modules_after_loading(target)
        assert not loaded & {"google.genai", "google.cloud.pubsub_v1", "google.cloud.storage", "google.cloud.tasks_v2",
                             "httpx", "pypdf", "docx"}


def test_no_function_loads_the_audio_decoder_numpy_or_libsndfile_before_a_request():
    for target in main.__all__:
        loaded = _modules_after_loading(target)
        assert not loaded & {"numpy", "soundfile"}, target
