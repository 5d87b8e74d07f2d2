# Terraform >= 1.7 for `removed` blocks (iam.tf); >= 1.5 for `check` blocks; optional() attribute
# defaults need >= 1.3. cloudbuild.yaml runs 1.9.
terraform {
  required_version = ">= 1.7.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    # Builds the functions' source archive at plan time (see source.tf for why here and not in Cloud Build).
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }

  # Partial configuration: the bucket is given at init, so no project id is written in the code.
  #   terraform init -backend-config=bucket=<state bucket>      (docs/DEPLOY.md creates the bucket)
  backend "gcs" {
    prefix = "piloto"
  }
}
