# Terraform >= 1.7 for `removed` blocks (iam.tf); >= 1.5 for `check` blocks; optional() attribute
# defaults need >= 1.3. cloudbuild.yaml runs 1.11.4, the version the offline checks (tests/infra) use.
terraform {
  required_version = ">= 1.7.0"

  # Exact versions: tests/infra/tfschema.py checks every block against these providers' published
  # schemas (the cdktf-cdktf-provider-* packages pinned in requirements-tfschema.txt carry exactly these
  # releases), and .terraform.lock.hcl, committed as Terraform recommends, records their checksums.
  # Upgrading = change a version here, the matching schema package, and the lock file
  # (`terraform init -upgrade` then `terraform providers lock -platform=linux_amd64 -platform=darwin_arm64`);
  # the offline checks then say what the new schema refuses.
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.50.0"
    }
    # google_project_service_identity only (propagation.tf): the same release as google.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "6.50.0"
    }
    # Builds the functions' source archive at plan time (see source.tf for why here and not in Cloud Build).
    archive = {
      source  = "hashicorp/archive"
      version = "2.7.1"
    }
    # time_sleep: waits where Google documents propagation delays (propagation.tf).
    time = {
      source  = "hashicorp/time"
      version = "0.13.1"
    }
  }

  # Partial configuration: the bucket is given at init, so no project id is written in the code.
  #   terraform init -backend-config=bucket=<state bucket>      (docs/DEPLOY.md creates the bucket)
  backend "gcs" {
    prefix = "piloto"
  }
}
