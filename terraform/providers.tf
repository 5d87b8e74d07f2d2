provider "google" {
  project = var.project_id
  region  = var.region

  # Every labelled resource (functions, buckets, topics, secrets, queues...) carries these, so billing
  # reports and the console's label filters can tell Piloto's resources apart.
  default_labels = merge({ app = "piloto", managed-by = "terraform" }, var.labels)
}

# Only for google_project_service_identity (propagation.tf), which provider 6.x has in beta alone.
provider "google-beta" {
  project = var.project_id
  region  = var.region
}
