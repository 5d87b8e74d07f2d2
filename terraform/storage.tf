# Cloud Storage. A bucket is one entry; names are "<project>-piloto-<key>" because bucket names are
# global. All buckets: uniform access (IAM only, no ACLs) and public access prevention enforced.
locals {
  buckets = {
    # Leads' voice notes, images and documents (issue 4), as
    # tenants/<tenant>/conversations/<conversation>/media/<message><ext>: ids only, no phone number or
    # file name. media_processor is the only function with a role on it (roles/storage.objectUser,
    # functions.tf); the build account reads the source buckets only (an IAM condition, iam.tf); project
    # owners also reach it. LGPD: the originals are personal data, kept only to read them again on a retry or to
    # check a transcript, so they are deleted after var.media_retention_days (90 by default; shorten
    # it when the business needs no such audit trail). Soft delete is off so a deletion (a lead's LGPD
    # request, or the retention rule) is final at once instead of lingering for 7 days, and there is
    # no versioning, so an overwrite leaves no old copy. The extracted text stays on the message in
    # Firestore with the conversation: an erasure request covers both (docs/DEPLOY.md).
    media = {
      versioning           = false
      delete_after_days    = var.media_retention_days
      noncurrent_days      = null
      soft_delete_disabled = true
    }
    # The businesses' documents for RAG (issue 5): <tenant>/<agent or shared>/<file>. Versioned so an
    # overwritten document can be restored; old versions go after var.knowledge_noncurrent_days. The
    # finalize/delete triggers arrive with knowledge_ingest (function_specs.trigger).
    knowledge = {
      versioning           = true
      delete_after_days    = null
      noncurrent_days      = var.knowledge_noncurrent_days
      soft_delete_disabled = false
    }
    # The functions' source archives (source.tf). Each is ~100 KB and named after its content hash;
    # old ones are kept on purpose: they are what a rollback redeploys.
    source = {
      versioning           = false
      delete_after_days    = null
      noncurrent_days      = null
      soft_delete_disabled = false
    }
  }
}

resource "google_storage_bucket" "bucket" {
  #checkov:skip=CKV_GCP_62:Access is audited by Cloud Audit Logs (Data Access); legacy usage-log buckets would be one more copy of object names to retain.
  #checkov:skip=CKV_GCP_78:Versioning is per bucket by design: on for knowledge; off for media (an LGPD deletion must be final) and source (names are content hashes, never overwritten).
  for_each = local.buckets
  name     = "${var.project_id}-piloto-${each.key}"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Media and knowledge hold customers' data: a `terraform destroy` must not wipe them.
  force_destroy = false

  versioning {
    enabled = each.value.versioning
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.delete_after_days == null ? [] : [each.value.delete_after_days]
    content {
      action {
        type = "Delete"
      }
      condition {
        age = lifecycle_rule.value
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.noncurrent_days == null ? [] : [each.value.noncurrent_days]
    content {
      action {
        type = "Delete"
      }
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
      }
    }
  }

  dynamic "soft_delete_policy" {
    for_each = each.value.soft_delete_disabled ? [0] : []
    content {
      retention_duration_seconds = soft_delete_policy.value
    }
  }

  depends_on = [google_project_service.api]
}
