# The one source archive every function is built from: main.py and requirements.txt at the zip root
# (what the Python runtime's build looks for), plus the packages the functions import.
#
# Built here by the archive provider rather than by a Cloud Build step, because:
#   - `terraform apply` from a laptop and from cloudbuild.yaml produce the same archive, with no
#     script to keep in step with the Terraform that consumes it;
#   - the archive is deterministic (sorted entries, zeroed timestamps), so its hash, and with it the
#     object name, changes only when the code does: an apply without code changes redeploys nothing,
#     and a plan shows exactly when functions will be rebuilt.
#
# An allow-list, not a deny-list: tests, dev tools, benchmarks, .venv and .env can never ship.
# tests/infra checks that these patterns cover every module the entry points import (eagerly or
# lazily) and that the entry points import from the archive's files alone.
locals {
  source_root     = "${path.module}/.."
  source_patterns = ["main.py", "requirements.txt", "functions/**/*.py", "shared/**/*.py"]
  source_files    = sort(distinct(flatten([for p in local.source_patterns : tolist(fileset(local.source_root, p))])))
}

data "archive_file" "source" {
  type = "zip"
  # Inside .terraform/: it exists after `terraform init`, survives between Cloud Build steps (plan and
  # apply run in /workspace) and is already git-ignored.
  output_path = "${path.module}/.terraform/piloto-source.zip"

  dynamic "source" {
    for_each = local.source_files
    content {
      filename = source.value
      # An empty __init__.py still needs its entry; a newline keeps it independent of how the provider
      # treats empty content.
      content = coalesce(file("${local.source_root}/${source.value}"), "\n")
    }
  }
}

resource "google_storage_bucket_object" "source" {
  name         = "functions/piloto-${data.archive_file.source.output_md5}.zip"
  bucket       = google_storage_bucket.bucket["source"].name
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}

# The image registry of the function builds, instead of the shared gcf-artifacts repository: the
# builder account gets write access to this repository only, and old images are cleaned up.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds images built from this repository's code, no customer data; Google-managed encryption suffices.
  repository_id = "piloto-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images built from the Piloto source archive by Cloud Functions."

  # Each deploy adds one image per function. Keep the recent ones (the running revision and rollback
  # candidates), delete the rest after 30 days.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.api]
}
