# LGPD (Lei 13.709/2018, art. 18): export and erasure of one lead's data by the lgpd_admin function
# (functions.tf holds its spec, like every function's). It reads and deletes personal data of every
# tenant, so its callers are a list of their own, narrower than admin_invokers (chat_api and
# knowledge_lookup): typically the data protection officer's group.

variable "lgpd_admins" {
  description = "IAM members allowed to call lgpd_admin (export and erase a lead's data), e.g. group:dpo@example.com. Never allUsers or allAuthenticatedUsers."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.lgpd_admins : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+", m))])
    error_message = "lgpd_admins entries are IAM members such as group:dpo@example.com; allUsers and allAuthenticatedUsers are refused."
  }
}

resource "google_cloud_run_v2_service_iam_member" "lgpd_admin_invoker" {
  for_each = toset(var.lgpd_admins)
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["lgpd_admin"].name
  role     = "roles/run.invoker"
  member   = each.value
}

# Every erasure is logged as "lead data erased (LGPD)" with its counts (never whose data it was): a
# counter of them, for the audit trail next to tenants/<t>/erasures.
resource "google_logging_metric" "lgpd_erasures" {
  name        = "piloto/lgpd_erasures"
  description = "Leads erased by lgpd_admin (LGPD art. 18). The erasure records are in Firestore, tenants/<t>/erasures."
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.function=\"lgpd_admin\" AND jsonPayload.message=\"lead data erased (LGPD)\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}
