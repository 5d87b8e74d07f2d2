"""Every consistency check can fail: each test breaks one thing in a copy and expects the check to say so.

A check that passes whatever the input proves nothing; these tests are its proof of life.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import hclfmt
import tfcheck


@pytest.fixture
def tf() -> tfcheck.Terraform:
    return tfcheck.real_terraform().copy()


@pytest.fixture
def code() -> tfcheck.Code:
    return tfcheck.real_code().copy()


def only(check, tf, code) -> str:
    problems = check(tf, code)
    assert problems, f"{check.__name__} missed the drift"
    return "\n".join(problems)


def test_the_real_tree_is_clean(tf, code):
    assert tfcheck.run_all(tf, code).all() == []


def test_an_entry_point_without_a_function_is_reported(tf, code):
    del tf.locals["function_specs"]["agent_turn"]
    assert "'agent_turn'" in only(tfcheck.check_functions_match_entry_points, tf, code)


def test_a_function_main_does_not_export_is_reported(tf, code):
    tf.locals["function_specs"]["voice_reply"] = dict(tf.locals["function_specs"]["agent_turn"])
    tf.locals["function_env"]["voice_reply"] = {}
    assert "voice_reply" in only(tfcheck.check_functions_match_entry_points, tf, code)


def test_a_new_entry_point_in_main_is_reported(tf, code):
    code.entry_points["voice_reply"] = "functions.voice_reply"
    assert "voice_reply" in only(tfcheck.check_functions_match_entry_points, tf, code)


def test_a_function_built_from_the_wrong_entry_point_is_reported(tf, code):
    tf.resources["google_cloudfunctions2_function"]["function"]["build_config"][0]["entry_point"] = "main"
    assert "entry_point" in only(tfcheck.check_function_resource_is_wired_per_entry_point, tf, code)


def test_env_not_merged_into_the_function_is_reported(tf, code):
    service = tf.resources["google_cloudfunctions2_function"]["function"]["service_config"][0]
    service["environment_variables"] = "${local.common_env}"
    assert "environment_variables" in only(tfcheck.check_function_resource_is_wired_per_entry_point, tf, code)


def test_a_missing_required_setting_is_reported(tf, code):
    del tf.locals["function_env"]["whatsapp_webhook"]["AGENT_TURN_URL"]
    assert "AGENT_TURN_URL" in only(tfcheck.check_required_settings_are_provided, tf, code)


def test_a_missing_model_setting_is_reported(tf, code):
    del tf.locals["function_env"]["agent_turn"]["LLM_PRICING"]
    assert "LLM_PRICING" in only(tfcheck.check_required_settings_are_provided, tf, code)


def test_a_missing_secret_is_reported(tf, code):
    del tf.locals["function_specs"]["whatsapp_webhook"]["secrets"]["META_APP_SECRET"]
    assert "META_APP_SECRET" in only(tfcheck.check_required_settings_are_provided, tf, code)


def test_a_new_setting_the_code_reads_without_default_is_reported(tf, code):
    # Another issue adds `media_bucket: str | None = None` and agent_turn starts reading it.
    code.settings["media_bucket"] = tfcheck.SettingField("media_bucket", None, secret=False)
    code.reads["agent_turn"].add("media_bucket")
    assert "MEDIA_BUCKET" in only(tfcheck.check_required_settings_are_provided, tf, code)


def test_a_misspelt_env_var_is_reported(tf, code):
    env = tf.locals["function_env"]["whatsapp_webhook"]
    env["AGENT_TURN_ULR"] = env.pop("AGENT_TURN_URL")
    assert "AGENT_TURN_ULR" in only(tfcheck.check_env_names_are_settings, tf, code)


def test_a_secret_given_as_a_plain_value_is_reported(tf, code):
    tf.locals["function_env"]["whatsapp_webhook"]["META_APP_SECRET"] = "${var.meta_app_secret}"
    assert "Secret Manager" in only(tfcheck.check_env_names_are_settings, tf, code)


def test_an_emulator_setting_in_production_is_reported(tf, code):
    tf.locals["function_env"]["whatsapp_webhook"]["TASKS_EMULATOR_HOST"] = "localhost:8123"
    assert "local-development" in only(tfcheck.check_env_names_are_settings, tf, code)


def test_allowing_http_crm_webhooks_in_production_is_reported(tf, code):
    tf.locals["function_env"]["crm_sync"]["CRM_WEBHOOK_ALLOW_HTTP"] = "true"
    assert "CRM_WEBHOOK_ALLOW_HTTP is a local-development setting" in only(
        tfcheck.check_env_names_are_settings, tf, code)


def test_a_setting_given_to_the_wrong_function_is_reported(tf, code):
    tf.locals["function_env"]["agent_turn"]["AGENT_TURN_URL"] = '${local.function_urls["agent_turn"]}'
    assert "agent_turn is given AGENT_TURN_URL" in only(tfcheck.check_env_is_read_by_its_function, tf, code)


def test_a_missing_queue_is_reported(tf, code):
    del tf.locals["queues"]["agent-turns"]
    problems = only(tfcheck.check_infrastructure_names_exist, tf, code)
    assert "AGENT_TURN_QUEUE='agent-turns'" in problems and "unknown queue 'agent-turns'" in problems


def test_a_renamed_queue_in_the_code_is_reported(tf, code):
    code.settings["agent_turn_queue"].default = "turns"
    assert "'turns' names no queue" in only(tfcheck.check_infrastructure_names_exist, tf, code)


def test_a_queue_for_a_function_that_does_not_exist_is_reported(tf, code):
    tf.locals["queues"]["voice"] = {**tf.locals["queues"]["agent-turns"], "target": "voice_reply"}
    assert "voice_reply" in only(tfcheck.check_infrastructure_names_exist, tf, code)


def test_unknown_topic_bucket_and_secret_references_are_reported(tf, code):
    spec = tf.locals["function_specs"]["agent_turn"]
    spec["publishes"] = ["lead-events"]
    spec["bucket_roles"] = {"audio": "roles/storage.objectUser"}
    spec["secrets"] = {"META_APP_SECRET": "meta-secret"}
    problems = only(tfcheck.check_infrastructure_names_exist, tf, code)
    assert "'lead-events'" in problems and "'audio'" in problems and "'meta-secret'" in problems


def test_a_secret_nobody_reads_is_reported(tf, code):
    tf.locals["secrets"]["hubspot-token"] = {"description": "unused"}
    assert "hubspot-token" in only(tfcheck.check_infrastructure_names_exist, tf, code)


def test_a_public_private_function_is_reported(tf, code):
    tf.locals["function_specs"]["agent_turn"]["public"] = True
    assert "agent_turn is public" in only(tfcheck.check_private_functions_are_private, tf, code)


def test_an_all_users_grant_outside_the_public_invoker_is_reported(tf, code):
    tf.resources["google_cloud_run_v2_service_iam_member"]["private_invoker"]["member"] = "allUsers"
    assert "private_invoker" in only(tfcheck.check_private_functions_are_private, tf, code)


def test_a_public_invoker_for_every_function_is_reported(tf, code):
    tf.resources["google_cloud_run_v2_service_iam_member"]["public_invoker"]["for_each"] = "${local.function_specs}"
    assert "public_functions" in only(tfcheck.check_private_functions_are_private, tf, code)


def test_a_shared_service_account_is_reported(tf, code):
    service = tf.resources["google_cloudfunctions2_function"]["function"]["service_config"][0]
    service["service_account_email"] = "${google_service_account.builder.email}"
    assert "its own account" in only(tfcheck.check_own_service_account_per_function, tf, code)


def test_a_function_name_too_long_for_an_account_id_is_reported(tf, code):
    tf.locals["function_specs"]["knowledge_ingest_from_google_drive"] = {}
    assert "exceeds 30" in only(tfcheck.check_own_service_account_per_function, tf, code)


@pytest.mark.parametrize("literal", [
    'secret_data = "abc"',
    'value = "0123456789abcdef0123456789abcdef"',
    'token = "EAAGm0PX4ZCpsBAKZBZCwZAqZBZC8ZAOZAb"',
])
def test_secret_values_in_terraform_are_reported(tf, code, literal):
    tf.texts["secrets.tf"] += f'\nlocals {{\n  x = {{ {literal} }}\n}}\n'
    assert only(tfcheck.check_no_secret_values_in_terraform, tf, code)


def test_a_secret_version_resource_or_secret_variable_is_reported(tf, code):
    tf.resources["google_secret_manager_secret_version"] = {"meta": {"secret_data": "${var.meta_app_secret}"}}
    tf.variables["meta_app_secret"] = {"type": "${string}", "sensitive": True}
    problems = only(tfcheck.check_no_secret_values_in_terraform, tf, code)
    assert "state" in problems and "meta_app_secret" in problems


def test_a_metric_on_a_log_line_the_code_no_longer_writes_is_reported(tf, code):
    code.log_lines["model called"] = code.log_lines.pop("model call")
    assert "'model call'" in only(tfcheck.check_log_metrics_match_log_lines, tf, code)


def test_a_metric_on_a_field_the_code_does_not_log_is_reported(tf, code):
    code.log_lines["model call"].discard("cost_usd")
    assert "'cost_usd'" in only(tfcheck.check_log_metrics_match_log_lines, tf, code)


def test_a_chart_of_an_undefined_metric_is_reported(tf, code):
    del tf.locals["log_metrics"]["piloto_handoffs"]
    assert "piloto_handoffs" in only(tfcheck.check_dashboard_uses_defined_metrics, tf, code)


def test_an_alert_on_an_undefined_metric_is_reported(tf, code):
    del tf.locals["log_metrics"]["piloto_crm_rejected"]
    assert "alerts.tf uses log-based metric 'piloto_crm_rejected'" in only(
        tfcheck.check_dashboard_uses_defined_metrics, tf, code)


def test_a_metric_on_the_crm_refusal_line_follows_the_code(tf, code):
    message = "CRM refused the event for good; recorded and acknowledged"
    code.log_lines["CRM refused the event"] = code.log_lines.pop(message)
    assert "piloto_crm_rejected" in only(tfcheck.check_log_metrics_match_log_lines, tf, code)


def test_a_chart_reading_a_counter_as_a_distribution_is_reported(tf, code):
    tf.texts["dashboard.tf"] += "\n# logging_googleapis_com:user_piloto_model_calls_sum\n"
    assert "counter" in only(tfcheck.check_dashboard_uses_defined_metrics, tf, code)


def test_a_collection_group_query_without_its_index_is_reported(tf, code):
    del tf.locals["firestore_fields"]["channels.channel_key"]
    assert "channel_key" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_a_collection_group_query_without_its_composite_index_is_reported(tf, code):
    del tf.locals["firestore_indexes"]["outbox_pending"]
    problems = only(tfcheck.check_firestore_matches_queries, tf, code)
    assert "collection-group query on 'outbox'" in problems
    assert "state (equality), occurred_at ASCENDING, event_id ASCENDING" in problems


@pytest.mark.parametrize("mutation", [
    lambda fields: fields.insert(1, fields.pop(2)),  # event_id before occurred_at: another order
    lambda fields: fields[2].update(order="DESCENDING"),
    lambda fields: fields.pop(0),  # without the equality field
    lambda fields: fields.append({"field_path": "tenant_id", "order": "ASCENDING", "vector_dimension": None}),
])
def test_a_composite_index_that_does_not_serve_its_query_is_reported(tf, code, mutation):
    mutation(tf.locals["firestore_indexes"]["outbox_pending"]["fields"])
    problems = only(tfcheck.check_firestore_matches_queries, tf, code)
    assert "needs a COLLECTION_GROUP composite index" in problems and "no query of the code uses" in problems


def test_a_composite_index_of_collection_scope_does_not_serve_a_group_query(tf, code):
    tf.locals["firestore_indexes"]["outbox_pending"]["query_scope"] = "COLLECTION"
    assert "collection-group query on 'outbox'" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_a_trailing_name_field_is_ignored_like_firestore_does(tf, code):
    fields = tf.locals["firestore_indexes"]["outbox_pending"]["fields"]
    fields.append({"field_path": "__name__", "order": "ASCENDING", "vector_dimension": None})
    assert tfcheck.check_firestore_matches_queries(tf, code) == []


def test_a_range_on_one_field_needs_its_single_field_collection_group_index(tf, code):
    # followup_sweep's query: next_followup_at <= now, ordered by it. No composite index can serve it
    # (they need two fields); only the field's collection-group override, ascending.
    del tf.locals["firestore_fields"]["conversations.next_followup_at"]
    assert "'next_followup_at'" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_a_single_field_index_in_the_wrong_order_is_reported(tf, code):
    field = tf.locals["firestore_fields"]["conversations.next_followup_at"]
    field["indexes"] = [{**i, "order": "DESCENDING"} for i in field["indexes"]]
    assert "(ASCENDING)" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_a_collection_group_index_no_query_uses_is_reported(tf, code):
    code.collection_group_queries = {q for q in code.collection_group_queries if q.collection != "outbox"}
    assert "firestore_indexes['outbox_pending']" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_an_expiring_collection_without_a_ttl_policy_is_reported(tf, code):
    del tf.locals["firestore_ttl_fields"]["crm_deliveries.expire_at"]
    problems = only(tfcheck.check_expiring_documents_have_ttl_policies, tf, code)
    assert "crm_deliveries.expire_at is written" in problems and "never deleted" in problems


def test_a_ttl_policy_on_a_field_the_code_never_writes_is_reported(tf, code):
    del code.ttl_writes["outbox"]
    assert "TTL on outbox.expire_at" in only(tfcheck.check_expiring_documents_have_ttl_policies, tf, code)


def test_an_expire_at_write_the_analysis_cannot_place_is_reported(tf, code):
    code.ttl_writes[None] = {"shared/adapters/x.py:3"}
    assert "x.py:3" in only(tfcheck.check_expiring_documents_have_ttl_policies, tf, code)


def test_an_index_on_a_collection_the_code_never_uses_is_reported(tf, code):
    tf.locals["firestore_ttl_fields"]["dedupe.expire_at"] = {"collection": "dedupe", "field": "expire_at"}
    assert "'dedupe'" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_an_index_on_a_collection_named_by_a_constant_is_accepted(tf, code):
    # CHUNKS = "knowledge_chunks"; .collection(CHUNKS): the collection is the constant's value.
    assert "knowledge_chunks" in code.collections
    code.collections.discard("knowledge_chunks")
    assert "'knowledge_chunks'" in only(tfcheck.check_firestore_matches_queries, tf, code)


def test_a_vector_query_without_its_index_is_reported(tf, code):
    del tf.locals["firestore_indexes"]["knowledge_chunks_embedding"]
    problems = only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)
    assert "knowledge_chunks.embedding" in problems and "agent_id, __name__, embedding (vector)" in problems


def test_a_vector_index_without_the_query_pre_filter_field_is_reported(tf, code):
    fields = tf.locals["firestore_indexes"]["knowledge_chunks_embedding"]["fields"]
    fields[0]["field_path"] = "origin"
    assert "needs a COLLECTION vector index" in only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)


def test_a_vector_index_of_the_wrong_scope_is_reported(tf, code):
    tf.locals["firestore_indexes"]["knowledge_chunks_embedding"]["query_scope"] = "COLLECTION_GROUP"
    assert "knowledge_chunks" in only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)


def test_a_vector_index_with_a_hard_coded_dimension_is_reported(tf, code):
    tf.locals["firestore_indexes"]["knowledge_chunks_embedding"]["fields"][-1]["vector_dimension"] = 768
    problems = only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)
    assert "built for 768 dimensions" in problems and "var.knowledge.embedding_dimensions" in problems


def test_functions_embedding_with_different_dimensions_are_reported(tf, code):
    tf.locals["function_env"]["agent_turn"]["EMBEDDING_DIMENSIONS"] = "1536"
    problems = only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)
    assert "different EMBEDDING_DIMENSIONS" in problems and "'agent_turn': '1536'" in problems


@pytest.mark.parametrize("mutation, message", [
    (lambda fields: fields.pop(1), "declare __name__"),  # Firestore's __name__ before the vector field
    (lambda fields: fields.append(fields.pop(0)), "must be the last field"),
    (lambda fields: fields[-1].update(order="ASCENDING"), "exactly one of order and vector_dimension"),
    (lambda fields: fields[0].update(order="ASC"), "ASCENDING or DESCENDING"),
])
def test_a_malformed_vector_index_is_reported(tf, code, mutation, message):
    mutation(tf.locals["firestore_indexes"]["knowledge_chunks_embedding"]["fields"])
    assert message in only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)


def test_a_vector_index_no_query_uses_is_reported(tf, code):
    code.vector_queries.clear()
    assert "no find_nearest query" in only(tfcheck.check_vector_indexes_serve_vector_queries, tf, code)


def test_an_event_the_code_handles_without_a_trigger_is_reported(tf, code):
    # A versioned bucket sends "archived" when the live object is deleted or overwritten.
    extra = tf.locals["function_specs"]["knowledge_ingest"]["extra_triggers"]
    extra[:] = [t for t in extra if not t["event_type"].endswith(".archived")]
    assert "google.cloud.storage.object.v1.archived, but no trigger" in only(
        tfcheck.check_event_triggers_deliver_what_the_code_handles, tf, code)


def test_an_event_the_code_does_not_handle_is_reported(tf, code):
    extra = tf.locals["function_specs"]["knowledge_ingest"]["extra_triggers"]
    extra.append({**extra[0], "event_type": "google.cloud.storage.object.v1.metadataUpdated"})
    assert "metadataUpdated, which its code does not handle" in only(
        tfcheck.check_event_triggers_deliver_what_the_code_handles, tf, code)


def test_an_event_delivered_twice_is_reported(tf, code):
    spec = tf.locals["function_specs"]["knowledge_ingest"]
    spec["extra_triggers"].append(dict(spec["trigger"]))
    assert "twice" in only(tfcheck.check_event_triggers_deliver_what_the_code_handles, tf, code)


def test_storage_triggers_without_the_storage_agent_publisher_grant_are_reported(tf, code):
    del tf.resources["google_project_iam_member"]["storage_service_agent_publisher"]
    assert "service agent" in only(tfcheck.check_event_triggers_deliver_what_the_code_handles, tf, code)


def test_extra_triggers_without_the_eventarc_wiring_are_reported(tf, code):
    tf.resources["google_eventarc_trigger"]["trigger"]["service_account"] = "${google_service_account.builder.email}"
    tf.locals["private_invocations"] = str(tf.locals["private_invocations"]).replace(
        " || length(spec.extra_triggers) > 0", "")
    problems = only(tfcheck.check_event_triggers_deliver_what_the_code_handles, tf, code)
    assert "must deliver as" in problems and "private_invocations" in problems


def test_an_extra_trigger_on_an_unknown_bucket_is_reported(tf, code):
    tf.locals["function_specs"]["knowledge_ingest"]["extra_triggers"][0]["bucket"] = "documents"
    assert "unknown bucket 'documents'" in only(tfcheck.check_infrastructure_names_exist, tf, code)


def test_a_provider_without_a_webhook_url_is_reported(tf, code):
    code.providers.add("gupshup")  # a provider the code might gain
    assert "gupshup" in only(tfcheck.check_webhook_urls_cover_providers, tf, code)


def test_a_timeout_longer_than_the_reply_lease_is_reported(tf, code):
    tf.locals["function_specs"]["agent_turn"]["timeout_seconds"] = 300
    assert "reply lease" in only(tfcheck.check_leases_outlast_their_functions, tf, code)


def test_without_a_terraform_lease_the_code_default_applies(tf, code):
    del tf.locals["function_env"]["agent_turn"]["REPLY_LEASE_SECONDS"]  # code default: 120 s < 150 s timeout
    assert "(120 s)" in only(tfcheck.check_leases_outlast_their_functions, tf, code)


def test_a_media_processor_timeout_at_its_lease_is_reported(tf, code):
    # The code's default lease is 300 s: with Terraform's 360 s gone, a 300 s timeout equals it.
    del tf.locals["function_env"]["media_processor"]["MEDIA_LEASE_SECONDS"]
    problems = only(tfcheck.check_leases_outlast_their_functions, tf, code)
    assert "media_processor's timeout (300 s) must be below the media lease (300 s)" in problems


def test_a_crm_sync_timeout_at_its_lease_is_reported(tf, code):
    tf.locals["function_specs"]["crm_sync"]["timeout_seconds"] = 120
    assert "crm_sync's timeout (120 s) must be below the CRM delivery lease (120 s)" in only(
        tfcheck.check_leases_outlast_their_functions, tf, code)


def test_a_push_subscription_that_dead_letters_before_a_lease_expires_is_reported(tf, code):
    sub = tf.locals["push_subscriptions"]["crm-sync"]
    sub.update(max_delivery_attempts=5, maximum_backoff_seconds=20)  # pushes at 0, 10, 30, 50, 70 s
    assert "push subscription 'crm-sync' stops redelivering about 70 s" in only(
        tfcheck.check_leases_outlast_their_functions, tf, code)


def test_the_subscription_retry_estimate_doubles_up_to_the_maximum(tf):
    sub = tf.locals["push_subscriptions"]["crm-sync"]
    assert tfcheck.subscription_retry_times(tf, sub) == [0, 10, 30, 70, 150, 310, 630, 1230, 1830, 2430]


def test_a_queue_that_stops_before_a_crashed_delivery_lease_expires_is_reported(tf, code):
    queue = tf.locals["queues"]["media"]
    queue["max_retry_duration"] = "0s"  # only the 5 attempts: 30 s, against a 360 s lease
    assert "queue 'media' stops retrying 30 s" in only(tfcheck.check_leases_outlast_their_functions, tf, code)


def test_the_retry_schedule_follows_cloud_tasks(tf):
    # RetryConfig's own example: min 10 s, max 300 s, 3 doublings -> 10, 20, 40, 80, 160, 240, 300, 300 s.
    assert tfcheck.retry_times(9, 10, 300, 3, 0) == [0, 10, 30, 70, 150, 310, 550, 850, 1150]
    # Both limits must be reached: 3 attempts, but retried until 100 s have passed.
    assert tfcheck.retry_times(3, 10, 30, 1, 100) == [0, 10, 30, 60, 90, 120]
    assert tfcheck.queue_retry_times(tf, tf.locals["queues"]["agent-turns"])[-1] == 1934


def test_a_mirrored_attempt_count_set_apart_from_its_queue_is_reported(tf, code):
    tf.locals["queues"]["media"]["max_attempts"] = 8
    problems = only(tfcheck.check_queue_settings_mirror_their_queues, tf, code)
    assert "MEDIA_MAX_ATTEMPTS = var.media.max_attempts but queue 'media' has max_attempts = 8" in problems


def test_a_mirrored_attempt_count_left_to_the_code_default_is_reported(tf, code):
    del tf.locals["function_env"]["media_processor"]["MEDIA_MAX_ATTEMPTS"]
    assert "code's default MEDIA_MAX_ATTEMPTS=5" in only(tfcheck.check_queue_settings_mirror_their_queues, tf, code)


def test_turn_retries_that_end_before_the_media_wait_is_over_are_reported(tf, code):
    queue = tf.locals["queues"]["agent-turns"]
    queue.update(max_attempts=4, max_retry_duration="60s")  # retries at 2, 6, 14, 30 and 62 s
    problems = only(tfcheck.check_turns_outlast_the_media_wait, tf, code)
    assert "queue 'agent-turns' stops retrying 62 s" in problems and "MEDIA_WAIT_SECONDS (60 s)" in problems


def test_a_longer_media_wait_than_the_turn_retries_is_reported(tf, code):
    tf.locals["function_env"]["agent_turn"]["MEDIA_WAIT_SECONDS"] = "1000"
    assert "twice MEDIA_WAIT_SECONDS (1000 s)" in only(tfcheck.check_turns_outlast_the_media_wait, tf, code)


def test_a_time_budget_at_the_timeout_is_reported(tf, code):
    tf.locals["function_env"]["outbox_drain"]["OUTBOX_DRAIN_TIME_BUDGET_SECONDS"] = "300"
    assert "OUTBOX_DRAIN_TIME_BUDGET_SECONDS (300 s) must be below its timeout (300 s)" in only(
        tfcheck.check_time_budgets_end_before_the_timeout, tf, code)


def test_a_time_budget_left_to_the_code_default_is_checked_too(tf, code):
    del tf.locals["function_env"]["outbox_drain"]["OUTBOX_DRAIN_TIME_BUDGET_SECONDS"]  # code default: 240 s
    tf.locals["function_specs"]["outbox_drain"]["timeout_seconds"] = 200
    assert "(240.0 s) must be below its timeout (200 s)" in only(
        tfcheck.check_time_budgets_end_before_the_timeout, tf, code)


@pytest.mark.parametrize("deadline, message", [
    ("120s", "shorter than outbox_drain's timeout (300 s)"),
    ("3600s", "must be 15s to 1800s"),
    ("5m", "must be 15s to 1800s"),
])
def test_a_scheduler_job_that_gives_up_before_its_target_is_reported(tf, code, deadline, message):
    tf.locals["scheduler_jobs"]["outbox-drain"]["attempt_deadline"] = deadline
    assert message in only(tfcheck.check_scheduler_jobs_wait_for_their_targets, tf, code)


def test_a_function_that_publishes_without_the_grant_is_reported(tf, code):
    tf.locals["function_specs"]["agent_turn"]["publishes"] = []
    assert "agent_turn publishes to 'domain-events' (EVENTS_TOPIC) without publisher" in only(
        tfcheck.check_publishers_hold_their_topics, tf, code)


def test_a_publisher_grant_for_a_function_that_never_publishes_is_reported(tf, code):
    # The webhook must not publish: its hot path never loads the Pub/Sub client.
    tf.locals["function_specs"]["whatsapp_webhook"]["publishes"] = ["domain-events"]
    assert "whatsapp_webhook may publish to 'domain-events'" in only(
        tfcheck.check_publishers_hold_their_topics, tf, code)


def test_publishes_without_the_publisher_resource_is_reported(tf, code):
    tf.resources["google_pubsub_topic_iam_member"]["publisher"]["role"] = "roles/pubsub.viewer"
    assert "google_pubsub_topic_iam_member.publisher" in only(tfcheck.check_publishers_hold_their_topics, tf, code)


@pytest.mark.parametrize("mutate, message", [
    (lambda tf: tf.locals["push_subscriptions"]["crm-sync"].update(message_ordering=False), "ordering keys"),
    (lambda tf: tf.locals["push_subscriptions"]["crm-sync"].update(ack_deadline_seconds=60), "ack deadline (60 s)"),
    (lambda tf: tf.locals["push_subscriptions"]["crm-sync"].update(target="crm_push"), "'crm_push', which is no"),
    (lambda tf: tf.locals["push_subscriptions"]["crm-sync"].update(topic="lead-events"), "unknown topic"),
    (lambda tf: tf.locals["function_specs"]["crm_sync"].update(trigger={
        "event_type": "google.cloud.pubsub.topic.v1.messagePublished", "pubsub_topic": "domain-events",
        "bucket": None, "retry": True}), "arrive twice"),
    (lambda tf: tf.resources["google_pubsub_subscription"]["push"]["push_config"][0].update(
        push_endpoint="${local.function_urls[each.value.target]}"), "Functions Framework"),
    (lambda tf: tf.resources["google_pubsub_subscription"]["push"]["push_config"][0]["oidc_token"][0].update(
        service_account_email='${google_service_account.invoker["tasks"].email}'), "OIDC token"),
    (lambda tf: tf.resources["google_pubsub_subscription"]["push"].pop("expiration_policy"), "31 days"),
    (lambda tf: tf.resources["google_pubsub_subscription"]["push"].pop("dynamic"), "dead_letter_policy"),
    (lambda tf: tf.resources["google_pubsub_subscription_iam_member"].clear(), "forward dead letters"),
    (lambda tf: tf.locals.update(private_invocations=str(tf.locals["private_invocations"]).replace(
        "local.push_subscriptions", "local.queues")), "private_invocations"),
])
def test_a_miswired_push_subscription_is_reported(tf, code, mutate, message):
    mutate(tf)
    assert message in only(tfcheck.check_push_subscriptions_deliver_to_their_functions, tf, code)


def test_a_push_subscription_to_an_http_function_is_reported(tf, code):
    code.signatures["crm_sync"] = "http"
    assert "crm_sync is called by push subscription 'crm-sync', which needs a cloud_event function" in only(
        tfcheck.check_callers_match_function_signatures, tf, code)


def test_a_scheduler_job_on_a_cloud_event_function_is_reported(tf, code):
    tf.locals["scheduler_jobs"]["outbox-drain"]["target"] = "crm_sync"
    assert "scheduler job 'outbox-drain', which needs a http function" in only(
        tfcheck.check_callers_match_function_signatures, tf, code)


def test_an_entry_point_without_a_framework_decorator_is_reported(tf, code):
    code.signatures["outbox_drain"] = None
    assert "outbox_drain: its entry point has neither" in only(
        tfcheck.check_callers_match_function_signatures, tf, code)


def test_a_queue_target_running_past_the_dispatch_deadline_is_reported(tf, code):
    tf.locals["function_specs"]["media_processor"]["timeout_seconds"] = 900
    assert "queue 'media'" in only(tfcheck.check_queue_targets_finish_within_the_dispatch_deadline, tf, code)


def test_a_dispatch_deadline_set_by_the_code_is_reported(tf, code):
    code.dispatch_deadlines.add("shared/adapters/cloud_tasks.py:60")
    assert "cloud_tasks.py:60" in only(tfcheck.check_queue_targets_finish_within_the_dispatch_deadline, tf, code)


def test_the_analysis_finds_dispatch_deadlines(tmp_path: Path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "tasks.py").write_text(textwrap.dedent("""
        def task(tasks_v2, d):
            return tasks_v2.Task(name="x", dispatch_deadline=d)
    """))
    assert tfcheck.dispatch_deadlines(tfcheck.RepoIndex(tmp_path)) == {"shared/tasks.py:3"}


def test_a_readable_type_the_code_gained_is_reported(tf, code):
    setting = code.settings["media_readable_mime_types"]
    setting.default += ",audio/amr"
    assert "leaves out audio/amr" in only(tfcheck.check_readable_media_types_match_the_code, tf, code)


def test_a_readable_type_the_code_does_not_list_is_reported(tf, code):
    tf.locals["function_env"]["media_processor"]["MEDIA_READABLE_MIME_TYPES"] = "audio/ogg,video/mp4"
    problems = only(tfcheck.check_readable_media_types_match_the_code, tf, code)
    assert "names video/mp4" in problems and "leaves out image/png" in problems


def test_code_left_out_of_the_archive_is_reported(tf, code):
    tf.locals["source_patterns"] = ["main.py", "requirements.txt", "functions/**/*.py"]
    assert "shared/bootstrap.py" in only(tfcheck.check_archive_ships_what_functions_load, tf, code)


def test_the_analysis_follows_calls_imports_and_settings_objects(tmp_path: Path):
    """Settings reads three calls away, behind a lazy import, a stored settings object and an alias, are found."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "functions" / "__init__.py").write_text("")
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "functions" / "entry.py").write_text(textwrap.dedent("""
        from shared import wiring
        def handler(request):
            return wiring.build()(request)
        def unrelated():
            from shared.config import get_settings
            return get_settings().never_read_by_handler
    """))
    (tmp_path / "shared" / "wiring.py").write_text(textwrap.dedent("""
        from shared.config import get_settings
        def build():
            from shared.media import Store
            cfg = get_settings()
            return Store(get_settings(), cfg.region).save
    """))
    (tmp_path / "shared" / "media.py").write_text(textwrap.dedent("""
        class Store:
            def __init__(self, settings):
                self._settings = settings
            def save(self, request):
                return self._settings.media_bucket, self._settings.price_of("x")
    """))
    (tmp_path / "shared" / "config.py").write_text(textwrap.dedent("""
        class Settings:
            media_bucket: str | None = None
            llm_pricing: dict = {}
            region: str = "x"
            def price_of(self, model):
                return self.llm_pricing.get(model)
        def get_settings():
            return Settings()
    """))
    index = tfcheck.RepoIndex(tmp_path)
    fields = {"media_bucket", "llm_pricing", "region", "never_read_by_handler"}
    reads, modules = tfcheck.reachable(index, "functions.entry", "handler", fields)
    assert reads == {"media_bucket", "llm_pricing", "region"}
    assert {"functions.entry", "shared.wiring", "shared.media", "shared.config"} <= modules


def test_the_analysis_finds_vector_queries_and_handled_event_types(tmp_path: Path):
    """find_nearest through a helper method, a local variable and constants (also imported ones) is resolved."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "functions" / "__init__.py").write_text("")
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "names.py").write_text('DOCS = "docs"\nVEC: str = "vec"\n')
    (tmp_path / "shared" / "kinds.py").write_text(textwrap.dedent("""
        from enum import StrEnum
        class Kind(StrEnum):
            NEW = "google.cloud.storage.object.v1.finalized"
            GONE = "google.cloud.storage.object.v1.deleted"
    """))
    (tmp_path / "shared" / "index.py").write_text(textwrap.dedent("""
        from shared.names import DOCS, VEC
        SCOPE = "scope"
        def _tenant(db, t):
            return db.collection("tenants").document(t)
        class Index:
            def _docs(self, t):
                return _tenant(self._db, t).collection(DOCS)
            def near(self, t, v):
                query = self._docs(t).where(filter=FieldFilter(SCOPE, "==", "a")).where("lang", "==", "pt")
                return query.limit(3).find_nearest(vector_field=VEC, query_vector=v, limit=3)
            def group(self, v):
                return self._db.collection_group("chunks").find_nearest(VEC, v)
            def unknown(self, name, v):
                return self._db.collection(name).find_nearest(vector_field=VEC, query_vector=v)
    """))
    (tmp_path / "functions" / "ingest.py").write_text(textwrap.dedent("""
        \"\"\"Handles google.cloud.storage.object.v1.archived too, says the docstring (not counted).\"\"\"
        from shared.kinds import Kind
        def ingest(event):
            return Kind(event["type"])
    """))
    index = tfcheck.RepoIndex(tmp_path)
    found = {(q.collection, q.query_scope, q.prefilter_fields, q.vector_field) for q in tfcheck.vector_queries(index)}
    assert found == {("docs", "COLLECTION", ("lang", "scope"), "vec"), ("chunks", "COLLECTION_GROUP", (), "vec"),
                     (None, "COLLECTION", (), "vec")}
    assert tfcheck.event_types(index, "functions.ingest") == {"google.cloud.storage.object.v1.finalized",
                                                              "google.cloud.storage.object.v1.deleted"}


def test_the_analysis_finds_collection_group_queries_ttl_writes_and_signatures(tmp_path: Path):
    """A query built in steps on a variable, with constants and a direction; expire_at written through a
    helper method; the Functions Framework decorators; publishing with ordering keys."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "functions" / "__init__.py").write_text("")
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "store.py").write_text(textwrap.dedent("""
        JOBS = "jobs"
        def _tenant(db, t):
            return db.collection("tenants").document(t)
        class Store:
            def due(self, now, after):
                query = (self._db.collection_group(JOBS)
                         .where(filter=FieldFilter("state", "==", "due"))
                         .where(filter=FieldFilter("due_at", "<=", now)))
                query = query.order_by("due_at", direction=firestore.Query.DESCENDING)
                if after:
                    query = query.start_after(after)
                return list(query.limit(10).stream())
            def by_key(self, key):
                return self._db.collection_group("keys").where("key", "==", key).limit(1)
            def _ref(self, t, job_id):
                return _tenant(self._db, t).collection(JOBS).document(job_id)
            def finish(self, t, job_id, at):
                self._ref(t, job_id).update({"state": "done", "expire_at": at})
            def cache(self, t, key, at):
                _tenant(self._db, t).collection("cache").document(key).set({"expire_at": at})
        def publish(client, topic, data, key):
            return client.publish(topic, data, ordering_key=key)
    """))
    (tmp_path / "functions" / "entry.py").write_text(textwrap.dedent("""
        import functions_framework
        from functions.http_errors import json_errors
        @functions_framework.http
        @json_errors
        def web(request):
            return "ok"
        @functions_framework.cloud_event
        def event(cloud_event):
            return None
        def plain(request):
            return None
    """))
    index = tfcheck.RepoIndex(tmp_path)
    assert {(q.collection, q.equalities, q.inequalities, q.order) for q in tfcheck.group_queries(index)} == {
        ("jobs", ("state",), ("due_at",), (("due_at", "DESCENDING"),)), ("keys", ("key",), (), ())}
    assert {c: len(w) for c, w in tfcheck.ttl_writes(index).items()} == {"jobs": 1, "cache": 1}
    assert [tfcheck.entry_signature(index, "functions.entry", e) for e in ("web", "event", "plain")] == [
        "http", "cloud_event", None]
    assert tfcheck.publishes_with_ordering_keys(index)


def test_misaligned_terraform_is_reported():
    text = textwrap.dedent("""\
        resource "x" "y" {
          name = "a"
          location    = "b" # c
          labels = {
            a = "b"
          }
        }
    """)
    problems = hclfmt.misalignments(text)
    assert any(p.startswith("line 2:") for p in problems) and any(p.startswith("line 3:") for p in problems)
