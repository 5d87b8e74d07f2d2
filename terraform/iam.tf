# Least privilege, derived from the maps: nothing here names a function, queue or bucket by hand, so a
# new entry in function_specs, queues, scheduler_jobs or push_subscriptions brings exactly its own grants.

locals {
  function_project_roles = merge([
    for fn, spec in local.function_specs : {
      for role in spec.project_roles : "${fn}/${role}" => { function = fn, role = role }
    }
  ]...)

  function_enqueues = merge([
    for fn, spec in local.function_specs : {
      for queue in spec.enqueues : "${fn}/${queue}" => { function = fn, queue = queue }
    }
  ]...)

  # A function that creates tasks names the queue's invoker account in each task's OIDC token, which
  # needs actAs (iam.serviceAccounts.actAs) on that account.
  function_acts_as = {
    for pair in distinct([
      for key, e in local.function_enqueues : { function = e.function, invoker = local.queues[e.queue].invoker }
    ]) : "${pair.function}/${pair.invoker}" => pair
  }

  function_publishes = merge([
    for fn, spec in local.function_specs : {
      for topic in spec.publishes : "${fn}/${topic}" => { function = fn, topic = topic }
    }
  ]...)

  function_bucket_roles = merge([
    for fn, spec in local.function_specs : {
      for bucket, role in spec.bucket_roles : "${fn}/${bucket}" => { function = fn, bucket = bucket, role = role }
    }
  ]...)

  # Who may invoke each private function: the invoker accounts of the queues, scheduler jobs, triggers
  # and push subscriptions that target it, and nobody else.
  private_invocations = {
    for pair in distinct(concat(
      [for q in values(local.queues) : { function = q.target, invoker = q.invoker }],
      [for j in values(local.scheduler_jobs) : { function = j.target, invoker = "scheduler" }],
      [for fn, spec in local.function_specs : { function = fn, invoker = "eventarc" } if spec.trigger != null || length(spec.extra_triggers) > 0],
      [for s in values(local.push_subscriptions) : { function = s.target, invoker = "pubsub" }],
    )) : "${pair.function}/${pair.invoker}" => pair
    if !local.function_specs[pair.function].public
  }

  public_functions = { for fn, spec in local.function_specs : fn => spec if spec.public }
}

resource "google_project_iam_member" "function" {
  for_each = local.function_project_roles
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.function_enqueues
  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_service_account_iam_member" "acts_as_invoker" {
  for_each           = local.function_acts_as
  service_account_id = google_service_account.invoker[each.value.invoker].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.function_publishes
  topic    = google_pubsub_topic.topic[each.value.topic].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.function_bucket_roles
  bucket   = google_storage_bucket.bucket[each.value.bucket].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Gen2 functions are Cloud Run services: invocation is run.invoker on the service (same name).
resource "google_cloud_run_v2_service_iam_member" "private_invoker" {
  for_each = local.private_invocations
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker[each.value.invoker].email}"
}

# Public functions authenticate their callers in code (the webhook: Meta's HMAC signature, the
# gateways' per-channel tokens), so anyone may reach them. Some organisations forbid allUsers by
# policy (domain restricted sharing): see docs/DEPLOY.md.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  for_each = local.public_functions
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# People and systems allowed to call the admin and testing HTTP functions: chat_api (the agent's brain
# without WhatsApp) and knowledge_lookup (what the knowledge base finds for a question). Both are
# private and spend model tokens; var.admin_invokers refuses allUsers.
locals {
  admin_functions = ["chat_api", "knowledge_lookup"]
  admin_invocations = {
    for pair in setproduct(local.admin_functions, distinct(var.admin_invokers)) : "${pair[0]}/${pair[1]}" => {
      function = pair[0]
      member   = pair[1]
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "admin_invoker" {
  for_each = local.admin_invocations
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# chat_api_invoker (one grant per member of the former var.chat_api_invokers) became admin_invoker.
# Its keys changed shape, so no `moved` block can map them; deleting the old grants while the new
# ones, for the same members, are created could revoke access. Terraform forgets them instead (the
# bindings stay, and admin_invoker now manages them). Remove this block once every environment has
# applied it.
removed {
  from = google_cloud_run_v2_service_iam_member.chat_api_invoker
  lifecycle {
    destroy = false
  }
}

# Eventarc delivers events as the "eventarc" invoker; it must also be allowed to receive them.
resource "google_project_iam_member" "eventarc_receiver" {
  for_each = contains(keys(local.invokers), "eventarc") ? toset(["eventarc"]) : toset([])
  project  = var.project_id
  role     = "roles/eventarc.eventReceiver"
  member   = "serviceAccount:${google_service_account.invoker[each.key].email}"
}

# Cloud Storage publishes object events to Eventarc through Pub/Sub as its own service agent
# (service-<project number>@gs-project-accounts.iam.gserviceaccount.com). Without this grant neither a
# function's Storage trigger nor an Eventarc Storage trigger (eventarc.tf) can be created. Reading the
# data source also creates the agent in a project that never used it. Only once a Storage trigger exists.
data "google_storage_project_service_account" "gcs" {
  for_each   = local.storage_triggered ? toset(["storage"]) : toset([])
  project    = var.project_id
  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "storage_service_agent_publisher" {
  for_each = data.google_storage_project_service_account.gcs
  project  = var.project_id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${each.value.email_address}"
}

# The build account: write build logs, read the source, push to its own image repository only. It runs
# Google's buildpacks on our code and is never a runtime identity.
resource "google_project_iam_member" "builder" {
  for_each = toset(["roles/logging.logWriter"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.builder.email}"
}

# Reading the source: our source bucket, and the gcf-v2-sources-<project number>-<region>[-<CMEK hash>]
# bucket Cloud Functions copies each archive into before the build (created on the first deploy, so it
# cannot be granted on the bucket itself). A project-level grant with an IAM condition on the bucket
# names: without it the build account could read every bucket of the project, the leads' media and
# the knowledge documents included. Bucket-level calls (list) name the bucket, object calls
# projects/_/buckets/<bucket>/objects/<object>
# (https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name).
resource "google_project_iam_member" "builder_source_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.builder.email}"

  condition {
    title       = "function-sources-only"
    description = "Only the function source buckets: the Piloto source bucket and Cloud Functions' gcf-v2-sources bucket."
    expression = join(" || ", [
      "resource.name == \"projects/_/buckets/${google_storage_bucket.bucket["source"].name}\"",
      "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.bucket["source"].name}/\")",
      "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${local.project_number}-${var.region}\")",
    ])
  }
}

resource "google_artifact_registry_repository_iam_member" "builder" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.builder.email}"
}
