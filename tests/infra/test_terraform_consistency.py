"""terraform/ provisions what the code needs, and nothing the code does not know about.

Runs offline (no terraform binary): the HCL is parsed with python-hcl2 and compared with the code.
Each check lives in tfcheck.py; test_tfcheck_catches_drift.py proves every one of them can fail.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import hcl2
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import hclfmt
import tfcheck

REPO = tfcheck.REPO


@pytest.fixture(scope="module")
def tf() -> tfcheck.Terraform:
    return tfcheck.real_terraform()


@pytest.fixture(scope="module")
def code() -> tfcheck.Code:
    return tfcheck.real_code()


def test_every_terraform_file_parses():
    files = sorted(tfcheck.TF_DIR.glob("*.tf"))
    assert len(files) >= 10
    for path in files:
        hcl2.loads(path.read_text())


@pytest.mark.parametrize("path", sorted(tfcheck.TF_DIR.glob("*.tf")), ids=lambda p: p.name)
def test_terraform_is_aligned_as_terraform_fmt_aligns_it(path):
    # cloudbuild.yaml runs `terraform fmt -check`; this catches its usual complaint before the pipeline does.
    assert hclfmt.misalignments(path.read_text()) == []


@pytest.mark.parametrize("check", tfcheck.CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_code_and_terraform_agree(check, tf, code):
    assert check(tf, code) == []


def test_the_reachability_analysis_sees_what_each_function_reads(code):
    # A guard on the analysis itself: if it silently stopped following the code, every "required
    # setting" check would pass vacuously.
    assert {"google_cloud_project", "region", "agent_turn_url", "tasks_service_account", "agent_turn_queue",
            "meta_app_secret", "meta_verify_token"} <= code.reads["whatsapp_webhook"]
    assert {"llm_backend", "llm_model", "vertex_location", "llm_pricing", "google_cloud_project"} <= code.reads["agent_turn"]
    # Lazy imports are followed (the model SDK adapter is imported inside a function)...
    assert "shared/adapters/gemini.py" in code.files["agent_turn"]
    # ...and the webhook does not reach the model: its settings are not demanded of it.
    assert not {"llm_model", "llm_pricing"} & code.reads["whatsapp_webhook"]


def test_the_analysis_sees_the_knowledge_base_queries_and_events(code):
    # Guards for the vector-index and event-trigger checks: without these findings they pass vacuously.
    assert {(q.collection, q.query_scope, q.prefilter_fields, q.vector_field) for q in code.vector_queries} >= {
        ("knowledge_chunks", "COLLECTION", ("agent_id",), "embedding")}
    assert code.event_types["knowledge_ingest"] == {
        "google.cloud.storage.object.v1.finalized", "google.cloud.storage.object.v1.deleted",
        "google.cloud.storage.object.v1.archived"}
    # The agent's search_knowledge tool embeds in-process: the embedding settings are demanded of it.
    assert {"embedding_model", "embedding_dimensions", "knowledge_max_distance"} <= tfcheck.required_settings(
        code, "agent_turn")


def test_required_settings_include_those_without_a_production_default(code):
    assert tfcheck.required_settings(code, "whatsapp_webhook") >= {
        "google_cloud_project", "region", "agent_turn_url", "tasks_service_account", "agent_turn_queue",
        "meta_app_secret", "meta_verify_token"}
    assert tfcheck.required_settings(code, "agent_turn") >= {"llm_backend", "llm_model", "vertex_location", "llm_pricing"}
    assert not any(code.settings[name].must_set_in_production for name in tfcheck.DEV_ONLY if name in code.settings)


def test_the_webhook_gets_its_secrets_from_secret_manager_only(tf):
    assert tfcheck.function_secrets(tf, "whatsapp_webhook") == {
        "META_APP_SECRET": "meta-app-secret", "META_VERIFY_TOKEN": "meta-verify-token",
        "WEBHOOK_URL_KEY": "webhook-url-key", "WEBHOOK_URL_KEY_PREVIOUS": "webhook-url-key-previous"}
    assert not {"META_APP_SECRET", "META_VERIFY_TOKEN", "WEBHOOK_URL_KEY", "WEBHOOK_URL_KEY_PREVIOUS"} & set(
        tfcheck.function_env(tf, "whatsapp_webhook"))
    # The senders key their Twilio status callbacks: the current secret only, never Meta's.
    assert tfcheck.function_secrets(tf, "agent_turn") == {"WEBHOOK_URL_KEY": "webhook-url-key"}


def test_the_agent_turn_queue_calls_agent_turn_with_the_tasks_identity(tf):
    queue = tf.locals["queues"]["agent-turns"]
    assert (queue["target"], queue["invoker"]) == ("agent_turn", "tasks")
    env = tfcheck.function_env(tf, "whatsapp_webhook")
    assert tfcheck._keys_referenced(env["AGENT_TURN_QUEUE"], "google_cloud_tasks_queue.queue") == {"agent-turns"}
    assert tfcheck._expr(env["AGENT_TURN_URL"]) == 'local.function_urls["agent_turn"]'
    assert tfcheck._expr(env["TASKS_SERVICE_ACCOUNT"]) == 'google_service_account.invoker["tasks"].email'


def test_the_analysis_sees_what_the_media_flow_reads(code):
    # Guards for the media checks: without these reads they pass vacuously.
    assert {"media_bucket", "media_max_attempts", "media_lease_seconds", "media_model", "media_readable_mime_types",
            "agent_turn_queue", "agent_turn_url", "tasks_service_account"} <= code.reads["media_processor"]
    assert {"media_queue", "media_processor_url"} <= code.reads["whatsapp_webhook"]
    assert "media_wait_seconds" in code.reads["agent_turn"]


def test_media_tasks_go_from_the_webhook_to_media_processor_with_the_tasks_identity(tf):
    queue = tf.locals["queues"]["media"]
    assert (queue["target"], queue["invoker"]) == ("media_processor", "tasks")
    specs = tf.locals["function_specs"]
    assert specs["media_processor"]["public"] is False and specs["media_processor"]["trigger"] is None
    assert specs["whatsapp_webhook"]["enqueues"] == ["agent-turns", "media"]
    # media_processor wakes the waiting turn: a task on agent-turns, signed as the tasks invoker (actAs).
    assert specs["media_processor"]["enqueues"] == ["agent-turns"]
    assert "local.queues[e.queue].invoker" in str(tf.locals["function_acts_as"])
    env = tfcheck.function_env(tf, "whatsapp_webhook")
    assert tfcheck._keys_referenced(env["MEDIA_QUEUE"], "google_cloud_tasks_queue.queue") == {"media"}
    assert tfcheck._expr(env["MEDIA_PROCESSOR_URL"]) == 'local.function_urls["media_processor"]'
    env = tfcheck.function_env(tf, "media_processor")
    assert tfcheck._keys_referenced(env["AGENT_TURN_QUEUE"], "google_cloud_tasks_queue.queue") == {"agent-turns"}
    assert tfcheck._expr(env["AGENT_TURN_URL"]) == 'local.function_urls["agent_turn"]'
    assert tfcheck._expr(env["TASKS_SERVICE_ACCOUNT"]) == 'google_service_account.invoker["tasks"].email'


def test_media_processor_is_sized_and_granted_for_its_files(tf):
    spec = tf.locals["function_specs"]["media_processor"]
    assert (spec["memory"], spec["cpu"], spec["timeout_seconds"], spec["min_instances"]) == ("1Gi", "1", 300, 0)
    assert spec["project_roles"] == ["roles/datastore.user", "roles/aiplatform.user"]
    # A retry overwrites the same object: objectCreator cannot, and the role is on the media bucket only.
    assert spec["bucket_roles"] == {"media": "roles/storage.objectUser"}
    assert spec["secrets"] == {}
    queue = tf.locals["queues"]["media"]
    assert tfcheck._expr(queue["max_attempts"]) == "var.media.max_attempts"
    assert (queue["min_backoff"], queue["max_backoff"], queue["max_concurrent_dispatches"]) == ("2s", "30s", 20)
    assert tfcheck.variable_default(tf, "media", "max_attempts") == 5
    # The queue caps dispatches below media_processor's capacity, never above it.
    assert "min(local.queue_capacity[each.key]" in str(
        tf.resource("google_cloud_tasks_queue", "queue")["rate_limits"][0]["max_concurrent_dispatches"])


def test_the_media_bucket_is_private_and_expires(tf):
    bucket = tf.resource("google_storage_bucket", "bucket")
    assert bucket["uniform_bucket_level_access"] is True and bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False
    media = tf.locals["buckets"]["media"]
    assert tfcheck._expr(media["delete_after_days"]) == "var.media_retention_days"
    assert media["soft_delete_disabled"] is True and media["versioning"] is False
    env = tfcheck.function_env(tf, "media_processor")
    assert tfcheck._keys_referenced(env["MEDIA_BUCKET"], "google_storage_bucket.bucket") == {"media"}
    # media_processor writes the originals, lgpd_admin erases a lead's, agent_turn only creates voice replies,
    # voice_admin only creates the consent recordings.
    roles = {fn: spec["bucket_roles"]["media"] for fn, spec in tf.locals["function_specs"].items()
             if "media" in spec["bucket_roles"]}
    assert roles == {"media_processor": "roles/storage.objectUser", "agent_turn": "roles/storage.objectCreator",
                     "lgpd_admin": "roles/storage.objectUser", "voice_admin": "roles/storage.objectCreator"}
    assert tfcheck._keys_referenced(tfcheck.function_env(tf, "lgpd_admin")["MEDIA_BUCKET"],
                                    "google_storage_bucket.bucket") == {"media"}


def test_the_analysis_sees_the_domain_events_flow(code):
    # Guards for the events and CRM checks: without these findings they pass vacuously.
    assert {"events_topic", "event_publish_timeout_seconds", "crm_retention_days"} <= code.reads["agent_turn"]
    assert {"events_topic", "event_publish_timeout_seconds", "crm_retention_days"} <= code.reads["chat_api"]
    assert {"outbox_drain_max_events", "outbox_drain_page_size", "outbox_drain_min_age_seconds",
            "outbox_drain_time_budget_seconds", "events_topic"} <= code.reads["outbox_drain"]
    assert {"crm_timeout_seconds", "crm_lease_seconds", "crm_config_cache_seconds", "crm_retention_days",
            "crm_webhook_allow_http"} <= code.reads["crm_sync"]
    # The webhook's hot path never loads Pub/Sub: it reads no topic and must hold no publisher grant.
    assert not {name for name in code.reads["whatsapp_webhook"] if name.endswith("_topic")}
    assert (code.signatures["crm_sync"], code.signatures["outbox_drain"]) == ("cloud_event", "http")
    assert code.ordered_publishing
    assert {"outbox", "crm_deliveries", "answer_cache"} <= set(code.ttl_writes)
    assert {(q.collection, q.equalities, q.order) for q in code.collection_group_queries} >= {
        ("outbox", ("state",), (("occurred_at", "ASCENDING"), ("event_id", "ASCENDING")))}


def test_only_the_event_emitters_publish_domain_events(tf):
    publishers = {fn for fn, spec in tf.locals["function_specs"].items() if spec["publishes"]}
    assert publishers == {"agent_turn", "chat_api", "lgpd_admin", "outbox_drain"}
    assert all(tf.locals["function_specs"][fn]["publishes"] == ["domain-events"] for fn in publishers)
    for fn in publishers:
        env = tfcheck.function_env(tf, fn)
        assert tfcheck._keys_referenced(env["EVENTS_TOPIC"], "google_pubsub_topic.topic") == {"domain-events"}
        assert tfcheck._expr(env["CRM_RETENTION_DAYS"]) == "tostring(var.events.retention_days)"


def test_crm_sync_is_private_sized_below_its_lease_and_fed_by_its_push_subscription(tf):
    spec = tf.locals["function_specs"]["crm_sync"]
    assert (spec["public"], spec["memory"], spec["cpu"], spec["concurrency"], spec["timeout_seconds"],
            spec["min_instances"], spec["max_instances"]) == (False, "512Mi", "1", 10, 90, 0, 10)
    assert spec["project_roles"] == ["roles/datastore.user"] and spec["trigger"] is None
    assert spec["timeout_seconds"] < tfcheck.variable_default(tf, "crm", "lease_seconds") == 120
    sub = tf.locals["push_subscriptions"]["crm-sync"]
    assert (sub["topic"], sub["target"], sub["message_ordering"]) == ("domain-events", "crm_sync", True)
    assert [tfcheck.number_of(tf, sub[k]) for k in ("ack_deadline_seconds", "minimum_backoff_seconds",
                                                   "maximum_backoff_seconds", "max_delivery_attempts")] == [
        120, 10, 600, 10]
    assert tf.locals["topics"]["domain-events"]["dead_letter"] == "domain-events-dead-letter"
    push = tf.resource("google_pubsub_subscription", "push")["push_config"][0]
    assert push["push_endpoint"] == ("${local.function_urls[each.value.target]}/projects/${var.project_id}"
                                     "/topics/${google_pubsub_topic.topic[each.value.topic].name}")
    assert tfcheck._expr(push["oidc_token"][0]["audience"]) == "local.function_urls[each.value.target]"
    # CRM_WEBHOOK_ALLOW_HTTP: never in Terraform, and refused by a precondition if someone adds it.
    assert not any("CRM_WEBHOOK_ALLOW_HTTP" in tfcheck.function_env(tf, fn) for fn in tf.locals["function_specs"])
    assert "CRM_WEBHOOK_ALLOW_HTTP" in str(tf.resource("google_cloudfunctions2_function", "function")["lifecycle"])


def test_the_pubsub_service_agent_can_forward_dead_letters(tf):
    grant = tf.resource("google_pubsub_subscription_iam_member", "dead_letter_subscriber")
    assert (grant["role"], tfcheck._expr(grant["member"])) == ("roles/pubsub.subscriber", "local.pubsub_service_agent")
    publisher = tf.resource("google_pubsub_topic_iam_member", "dead_letter_publisher")
    assert (publisher["role"], tfcheck._expr(publisher["for_each"])) == ("roles/pubsub.publisher",
                                                                        "local.dead_letter_topics")
    assert tfcheck._expr(tf.resource("google_monitoring_alert_policy", "dead_letters")["for_each"]) == \
        "local.dead_letter_topics"


def test_outbox_drain_runs_alone_every_five_minutes(tf):
    spec = tf.locals["function_specs"]["outbox_drain"]
    assert (spec["public"], spec["memory"], spec["cpu"], spec["concurrency"], spec["timeout_seconds"],
            spec["max_instances"]) == (False, "512Mi", "1", 1, 300, 1)
    assert spec["project_roles"] == ["roles/datastore.user"] and spec["publishes"] == ["domain-events"]
    job = tf.locals["scheduler_jobs"]["outbox-drain"]
    assert (job["target"], job["path"], job["body"], job["attempt_deadline"], job["retry_count"]) == (
        "outbox_drain", "/", {}, "300s", 0)
    assert tfcheck.variable_default(tf, "events", "drain_schedule") == "*/5 * * * *"
    assert tfcheck.variable_default(tf, "events", "drain_time_budget_seconds") == 240


def test_only_the_webhook_is_public(tf):
    public = {fn for fn, spec in tf.locals["function_specs"].items() if spec["public"]}
    assert public == {"whatsapp_webhook"}


def test_knowledge_ingest_reads_only_the_knowledge_bucket_it_is_triggered_by(tf):
    spec = tf.locals["function_specs"]["knowledge_ingest"]
    assert spec["bucket_roles"] == {"knowledge": "roles/storage.objectViewer"}
    assert {t["bucket"] for t in tfcheck._triggers(spec)} == {"knowledge"}
    assert all(t["retry"] is True for t in tfcheck._triggers(spec))
    env = tfcheck.function_env(tf, "knowledge_ingest")
    assert tfcheck._keys_referenced(env["KNOWLEDGE_BUCKET"], "google_storage_bucket.bucket") == {"knowledge"}


def test_the_admin_functions_are_invoked_by_admin_invokers_only(tf):
    assert tf.locals["admin_functions"] == ["chat_api", "knowledge_lookup", "tenant_report"]
    assert not any(tf.locals["function_specs"][fn]["public"] for fn in tf.locals["admin_functions"])
    grant = tf.resource("google_cloud_run_v2_service_iam_member", "admin_invoker")
    assert tfcheck._expr(grant["for_each"]) == "local.admin_invocations"
    assert "var.admin_invokers" in str(tf.locals["admin_invocations"])
    validation = str(tf.variables["admin_invokers"]["validation"])
    assert "allUsers" in validation and "allAuthenticatedUsers" in validation
    assert "chat_api_invokers" not in tf.variables


def test_lgpd_admin_is_private_and_invoked_by_lgpd_admins_only(tf):
    assert tf.locals["function_specs"]["lgpd_admin"]["public"] is False
    assert "lgpd_admin" not in tf.locals["admin_functions"], "its callers are var.lgpd_admins, a narrower list"
    grant = tf.resource("google_cloud_run_v2_service_iam_member", "lgpd_admin_invoker")
    assert tfcheck._expr(grant["for_each"]) == "toset(var.lgpd_admins)"
    assert "allUsers" in tf.variables["lgpd_admins"]["validation"][0]["error_message"]


def test_voice_admin_is_private_and_only_voice_clone_secrets_are_reachable(tf):
    assert tf.locals["function_specs"]["voice_admin"]["public"] is False
    assert "voice_admin" not in tf.locals["admin_functions"]
    grant = tf.resource("google_cloud_run_v2_service_iam_member", "voice_admin_invoker")
    assert tfcheck._expr(grant["for_each"]) == "toset(var.voice_admins)"
    assert "voice-clone--" in str(tf.locals["voice_clone_secrets"])
    reader = tf.resource("google_project_iam_member", "agent_turn_voice_keys")
    assert reader["role"] == "roles/secretmanager.secretAccessor"
    assert "local.voice_clone_secrets" in str(reader["condition"]) and "||" not in str(reader["condition"])
    writer = tf.resource("google_project_iam_member", "voice_admin_secrets")
    assert "local.voice_clone_secrets" in str(writer["condition"])


def test_the_default_embedding_model_has_a_price(tf):
    model = tfcheck.variable_default(tf, "knowledge", "embedding_model")
    assert model == "gemini-embedding-001"
    assert model in tf.variables["llm_pricing"]["default"]


def test_every_variable_is_typed_and_documented(tf):
    for name, variable in tf.variables.items():
        assert variable.get("type"), f"variable {name} has no type"
        assert len(str(variable.get("description", ""))) > 20, f"variable {name} has no real description"


def test_every_output_is_documented(tf):
    for name, output in tf.outputs.items():
        assert output.get("description"), f"output {name} has no description"


def _archive(tf: tfcheck.Terraform, into: Path) -> list[str]:
    files = sorted(tfcheck.source_files(tf))
    for relpath in files:
        target = into / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relpath, target)
    return files


def test_the_archive_alone_serves_every_entry_point(tf, tmp_path):
    """Import main and every shipped module from a copy holding only the archive's files."""
    files = _archive(tf, tmp_path)
    assert {"main.py", "requirements.txt"} <= set(files)
    assert not [f for f in files if f.startswith(("tests/", "dev/", "bench/", ".venv", "terraform/"))]
    modules = [f[:-3].replace("/", ".").removesuffix(".__init__") for f in files if f.endswith(".py")]
    program = (
        "import importlib, sys, main\n"
        "for name in main.__all__: getattr(main, name)\n"
        f"for module in {modules!r}: importlib.import_module(module)\n"
        "outside = [m.__file__ for n, m in list(sys.modules.items())\n"
        "           if n.split('.')[0] in ('main', 'functions', 'shared')\n"
        "           and not (getattr(m, '__file__', None) or '').startswith(sys.argv[1])]\n"
        "assert not outside, outside\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", program, str(tmp_path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def _requirement_closure(requirements: Path) -> set[str]:
    """Distributions requirements.txt installs, with their dependencies (as installed here)."""
    pending = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            pending.append(Requirement(line))
    closure: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for raw in requires:
            dependency = Requirement(raw)
            extras = [""] + sorted(requirement.extras)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                pending.append(dependency)
    return closure


def test_the_archive_imports_only_what_requirements_txt_installs(tf):
    closure = _requirement_closure(REPO / "requirements.txt")
    providers = metadata.packages_distributions()
    ours = {"main", "functions", "shared"}
    missing = {}
    for relpath in tfcheck.source_files(tf):
        if not relpath.endswith(".py"):
            continue
        for node in ast.walk(ast.parse((REPO / relpath).read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in ours or name in sys.stdlib_module_names or name == "__future__":
                    continue
                dists = {canonicalize_name(d) for d in providers.get(name, [])}
                if not dists & closure:
                    missing.setdefault(name, set()).add(relpath)
    assert not missing, f"imported by the functions but not installed by requirements.txt: {missing}"


def test_the_pipeline_tests_then_plans_then_applies_the_saved_plan():
    pipeline = (REPO / "cloudbuild.yaml").read_text()
    steps = re.findall(r"^\s*- id: ['\"]?([\w-]+)", pipeline, flags=re.M)
    assert steps.index("test") < steps.index("plan") < steps.index("apply"), steps
    assert "tests/infra" in pipeline and "requirements-dev.txt" in pipeline and "requirements-tfschema.txt" in pipeline
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in pipeline
    assert re.search(r"apply\b.*\btfplan\b", pipeline), "apply must apply the plan that was reviewed"
    # The operator's configuration reaches the pipeline (terraform.tfvars is git-ignored, so neither a
    # trigger's checkout nor `gcloud builds submit` has it): fetched from beside the state before plan.
    assert steps.index("config") < steps.index("plan"), steps
    assert 'gs://${_TF_STATE_BUCKET}/${_TF_VARS_OBJECT}" terraform/terraform.tfvars' in pipeline
    assert "-lockfile=readonly" in pipeline
    ignored = (REPO / ".gcloudignore").read_text().split()
    assert "terraform/terraform.tfvars" in ignored and ".venv/" in ignored
