"""terraform/ as Terraform and the Google provider would see it, checked offline.

- tfschema.py: every resource, data and provider block against the pinned providers' published schemas
  (argument and block names, nested and dynamic blocks, required arguments);
- the provider pins, the lock file and the schema packages name the same versions;
- the terraform binary, when the machine has one: `terraform fmt -check`, and a plan of the variables,
  locals, preconditions and outputs (tfplan.py) with the defaults and with terraform.tfvars.example.

Each check is also run on a broken copy of terraform/ to prove it fails when it should.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import tfplan
import tfschema

TF_DIR = tfschema.TF_DIR
TEST_PROJECT = "piloto-plan-check"
NO_TERRAFORM = "no terraform binary on PATH: the fmt and plan checks need one (CI images and this machine have it)"


def broken_copy(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    """A copy of terraform/ with one edit in one file (the edit must apply)."""
    copy = tmp_path / "terraform"
    shutil.copytree(TF_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "tfplan"))
    path = copy / filename
    text = path.read_text()
    assert old in text, f"{filename} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))
    return copy


# --- Provider schema -----------------------------------------------------------------------------


def test_every_block_matches_the_pinned_provider_schemas():
    assert tfschema.check_module() == []


def test_the_schema_is_read_from_the_package_of_the_pinned_provider():
    # A guard on the extraction itself: if it silently found nothing, the check above would pass.
    google = tfschema.provider_schema("google")
    assert google is not None and google.source == "registry.terraform.io/hashicorp/google"
    assert len(google.resources) > 1000 and len(google.data_sources) > 300
    trigger = google.resources["google_eventarc_trigger"]
    assert trigger.attributes["location"] is True and trigger.attributes["service_account"] is False
    assert trigger.blocks["destination"][0] is True
    assert "cloud_run_service" in trigger.blocks["destination"][1].blocks
    assert "retry_policy" not in trigger.blocks  # 6.50.0: it first appears in 7.14.0
    assert "create_duration" in tfschema.provider_schema("time").resources["time_sleep"].attributes  # type: ignore[union-attr]


def version_mismatches(tf_dir: Path) -> list[str]:
    """Where versions.tf, .terraform.lock.hcl and the installed schema packages disagree."""
    pins = tfschema.pinned_versions(tf_dir)
    locked = tfschema.locked_versions(tf_dir)
    problems = []
    for name in sorted(set(pins) | set(tfschema.SCHEMA_PACKAGES)):
        schema = tfschema.provider_schema(name) if name in tfschema.SCHEMA_PACKAGES else None
        if schema is None:
            problems.append(f"{name}: no schema package installed (tfschema.SCHEMA_PACKAGES, requirements-tfschema.txt)")
            continue
        # An exact pin: the schema checked is the schema applied.
        if pins.get(name) != schema.version:
            problems.append(f"versions.tf pins {name} to {pins.get(name)!r}; its schema package carries {schema.version}")
        if locked.get(schema.source) != schema.version:
            problems.append(f".terraform.lock.hcl locks {schema.source} at {locked.get(schema.source)!r}, not {schema.version}")
    return problems


def test_the_provider_pins_the_lock_file_and_the_schema_packages_agree():
    assert version_mismatches(TF_DIR) == []


def test_the_lock_file_carries_hashes_for_every_platform():
    # zh: hashes are the registry's per-platform zip checksums; with them `terraform init` verifies the
    # download on any platform (laptop or Cloud Build) without `terraform providers lock` first.
    text = (TF_DIR / ".terraform.lock.hcl").read_text()
    for block in re.findall(r'provider "[^"]+" \{.*?\n\}', text, re.S):
        assert len(re.findall(r'"zh:[0-9a-f]{64}"', block)) >= 10, block


def test_the_schema_check_catches_an_unknown_argument(tmp_path):
    copy = broken_copy(tmp_path, "storage.tf", "  uniform_bucket_level_access = true",
                       "  uniform_bucket_level_access = true\n  bucket_policy_only          = true")
    assert any("unsupported argument or block 'bucket_policy_only'" in p for p in tfschema.check_module(copy))


def test_the_schema_check_catches_an_unknown_block_even_from_an_empty_dynamic(tmp_path):
    # The retry_policy block that stopped every plan: the dynamic block's for_each was empty by default.
    copy = broken_copy(tmp_path, "eventarc.tf", "  lifecycle {\n", (
        '  dynamic "retry_policy" {\n    for_each = []\n    content {\n      max_attempts = 1\n    }\n  }\n\n'
        "  lifecycle {\n"))
    assert 'eventarc.tf: google_eventarc_trigger.trigger: dynamic "retry_policy": no such block' \
        in tfschema.check_module(copy)


def test_the_schema_check_catches_a_missing_required_argument_and_block(tmp_path):
    copy = broken_copy(tmp_path, "eventarc.tf", "  location        = var.region\n", "")
    problems = tfschema.check_module(copy)
    assert "eventarc.tf: google_eventarc_trigger.trigger: required argument 'location' is missing" in problems


def test_the_schema_check_catches_a_misspelt_nested_argument(tmp_path):
    copy = broken_copy(tmp_path, "eventarc.tf", "      service = google_cloudfunctions2_function",
                       "      service_name = google_cloudfunctions2_function")
    problems = tfschema.check_module(copy)
    assert any("destination.cloud_run_service: unsupported argument or block 'service_name'" in p for p in problems)
    assert any("destination.cloud_run_service: required argument 'service' is missing" in p for p in problems)


def test_the_version_check_catches_a_range_pin(tmp_path):
    copy = broken_copy(tmp_path, "versions.tf", 'version = "6.50.0"', 'version = "~> 6.0"')
    assert version_mismatches(copy) == ["versions.tf pins google to '~> 6.0'; its schema package carries 6.50.0"]


# --- The terraform binary ------------------------------------------------------------------------


needs_terraform = pytest.mark.skipif(tfplan.terraform_binary() is None, reason=NO_TERRAFORM)


def fmt_check(tf_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tfplan.terraform_binary() or "terraform", "fmt", "-check", "-diff", "-no-color",
                           str(tf_dir)], capture_output=True, text=True, timeout=120)


@needs_terraform
def test_terraform_fmt_finds_nothing_to_change():
    result = fmt_check(TF_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_terraform
def test_terraform_fmt_check_fails_on_a_misformatted_copy(tmp_path):
    copy = broken_copy(tmp_path, "storage.tf", "  force_destroy = false", "  force_destroy    =    false")
    assert fmt_check(copy).returncode != 0


@needs_terraform
@pytest.mark.parametrize("var_file", [None, "terraform.tfvars.example"], ids=["defaults", "tfvars-example"])
def test_the_variables_locals_and_preconditions_plan(tmp_path, var_file):
    if var_file is None:
        result = tfplan.plan_standin(TF_DIR, tmp_path / "plan", variables={"project_id": TEST_PROJECT})
    else:
        result = tfplan.plan_standin(TF_DIR, tmp_path / "plan", var_files=[TF_DIR / var_file])
    assert result.ok, result.output[-4000:]
    assert "Plan:" in result.output


VERTEX_PROBES = {
    "chat": 'local.function_env["agent_turn"]["VERTEX_LOCATION"]',
    "media": 'local.function_env["media_processor"]["VERTEX_LOCATION"]',
    "embeddings": 'local.function_env["knowledge_ingest"]["EMBEDDING_LOCATION"]',
    "questions": 'local.function_env["agent_turn"]["EMBEDDING_LOCATION"]',
}


@needs_terraform
@pytest.mark.parametrize(("in_region", "expected"), [
    ("false", {"chat": "global", "media": "global", "embeddings": "us-central1", "questions": "us-central1"}),
    ("true", dict.fromkeys(VERTEX_PROBES, "southamerica-east1")),
], ids=["defaults-leave-brazil", "vertex-in-region"])
def test_vertex_in_region_keeps_every_vertex_call_in_the_region(tmp_path, in_region, expected):
    result = tfplan.plan_standin(TF_DIR, tmp_path / "plan", probes=VERTEX_PROBES,
                                 variables={"project_id": TEST_PROJECT, "vertex_in_region": in_region})
    assert result.ok, result.output[-4000:]
    assert result.values == expected


BROKEN_FOR_PLAN = {
    # The validation that stopped every plan: coalesce() skips null and "" and errors when nothing is left.
    "coalesce-of-a-null-default": (
        "variables.tf",
        "condition     = var.followups.cadence_defaults.outside_window_policy == null ? true : "
        'contains(["skip", "free_form"], var.followups.cadence_defaults.outside_window_policy)',
        'condition     = contains(["skip", "free_form", ""], coalesce(var.followups.cadence_defaults.outside_window_policy, ""))',
        "no non-null, non-empty-string arguments"),
    # Provider 6.x has no retry_policy on google_eventarc_trigger: retry = false would silently retry.
    "eventarc-trigger-without-retries": (
        "functions.tf",
        'event_type = "google.cloud.storage.object.v1.deleted", pubsub_topic = null, bucket = "knowledge", retry = true',
        'event_type = "google.cloud.storage.object.v1.deleted", pubsub_topic = null, bucket = "knowledge", retry = false',
        "extra_triggers retry = false is not supported"),
    "reference-to-an-undeclared-resource": (
        "functions.tf", 'google_pubsub_topic.topic["domain-events"].name', 'google_pubsub_topic.topics["domain-events"].name',
        "Reference to undeclared resource"),
}


@needs_terraform
@pytest.mark.parametrize(("filename", "old", "new", "error"), BROKEN_FOR_PLAN.values(), ids=BROKEN_FOR_PLAN.keys())
def test_the_plan_check_fails_on_a_broken_copy(tmp_path, filename, old, new, error):
    copy = broken_copy(tmp_path, filename, old, new)
    result = tfplan.plan_standin(copy, tmp_path / "plan", variables={"project_id": TEST_PROJECT})
    assert not result.ok
    assert error in result.output


@needs_terraform
def test_the_plan_check_evaluates_resource_preconditions(tmp_path):
    # crm_sync times out after 90 s: a 60 s lease must be refused by functions.tf's precondition.
    tfvars = tmp_path / "short-lease.tfvars"
    tfvars.write_text(f'project_id = "{TEST_PROJECT}"\ncrm = {{ lease_seconds = 60 }}\n')
    result = tfplan.plan_standin(TF_DIR, tmp_path / "plan", var_files=[tfvars])
    assert not result.ok
    assert "crm_sync's timeout_seconds must be below crm.lease_seconds" in result.output


# --- Least privilege the schema cannot see -------------------------------------------------------


def builder_storage_grants(tf_dir: Path) -> list[tuple[str, str, str | None]]:
    """(resource address, role, condition expression) of every project-level storage role of the build account."""
    grants = []
    for filename, parsed in tfschema.load_blocks(tf_dir).items():
        for block in parsed.get("resource", []):
            for name, body in block.get("google_project_iam_member", {}).items():
                if name == "__is_block__" or "google_service_account.builder" not in str(body.get("member")):
                    continue
                roles = re.findall(r"roles/storage\.\w+", str(body.get("role")) + str(body.get("for_each", "")))
                condition = (body.get("condition") or [{}])[0].get("expression")
                grants += [(f"{filename}: google_project_iam_member.{name}", role, condition) for role in roles]
    return grants


def unconfined_builder_grants(tf_dir: Path) -> list[str]:
    return [f"{address}: {role} on every bucket of the project" for address, role, condition in builder_storage_grants(tf_dir)
            if condition is None or 'buckets/${google_storage_bucket.bucket["source"].name}' not in str(condition)]


def test_the_build_account_reads_only_the_function_source_buckets():
    assert builder_storage_grants(TF_DIR), "the build account must read the source archive"
    assert unconfined_builder_grants(TF_DIR) == []


def test_the_least_privilege_check_catches_a_project_wide_build_grant(tmp_path):
    copy = broken_copy(tmp_path, "iam.tf", 'toset(["roles/logging.logWriter"])',
                       'toset(["roles/logging.logWriter", "roles/storage.objectViewer"])')
    assert unconfined_builder_grants(copy) == [
        "iam.tf: google_project_iam_member.builder: roles/storage.objectViewer on every bucket of the project"]


# --- First-apply races: what waits for what ------------------------------------------------------


def depends_on(tf_dir: Path, rtype: str, name: str) -> str:
    for parsed in tfschema.load_blocks(tf_dir).values():
        for block in parsed.get("resource", []):
            body = block.get(rtype, {}).get(name)
            if body is not None:
                return str(body.get("depends_on", ""))
    raise AssertionError(f"{rtype}.{name} not found")


def missing_waits(tf_dir: Path) -> list[str]:
    """The known first-apply races (propagation.tf) a resource no longer waits for."""
    expected = [
        # Secret accessors, build grants, Eventarc agent role: the deploy checks them (#25294).
        ("google_cloudfunctions2_function", "function", "time_sleep.iam_propagation"),
        ("google_eventarc_trigger", "trigger", "time_sleep.iam_propagation"),
        # A log-based metric is usable in a policy minutes after its creation (#11102).
        ("google_monitoring_alert_policy", "crm_rejections", "time_sleep.log_metrics"),
    ]
    missing = [f"{rtype}.{name} does not wait for {wait}" for rtype, name, wait in expected
               if wait not in depends_on(tf_dir, rtype, name)]
    pubsub = (tf_dir / "pubsub.tf").read_text()
    if 'google_project_service_identity.agent["pubsub"].email' not in pubsub:
        missing.append("the Pub/Sub service agent is not taken from its service identity (it may not exist yet)")
    return missing


def test_a_fresh_project_waits_for_each_known_propagation_delay():
    assert missing_waits(TF_DIR) == []


def test_the_wait_check_catches_a_removed_wait(tmp_path):
    copy = broken_copy(tmp_path, "alerts.tf", "depends_on = [time_sleep.log_metrics]", "depends_on = []")
    assert missing_waits(copy) == [
        "google_monitoring_alert_policy.crm_rejections does not wait for time_sleep.log_metrics"]
