# Where the Vertex AI calls go: the one place that decides it (docs/DEPLOY.md, "Data residency").
#
# Everything Terraform creates lives in var.region (functions, queues, buckets, secrets, Pub/Sub storage,
# Firestore unless firestore_location says otherwise). Two kinds of call leave it unless
# var.vertex_in_region is true:
#   - chat, follow-up nudges, media reading and scanned-PDF transcription go to llm.location; the default
#     `global` endpoint may process a request in any region Google chooses;
#   - embeddings (knowledge documents at ingestion, leads' questions at search) go to
#     knowledge.embedding_location (us-central1 by default).
# With vertex_in_region = true both are var.region, and the models must be offered there.
locals {
  vertex_location    = var.vertex_in_region ? var.region : var.llm.location
  embedding_location = var.vertex_in_region ? var.region : var.knowledge.embedding_location
}
