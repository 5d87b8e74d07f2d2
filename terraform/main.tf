# Piloto: every Cloud Function, queue, topic, bucket, secret, index, metric, dashboard and alert of one
# project. One file per concern; the maps in locals are the things to edit (a new function, queue,
# topic, bucket or scheduler job is one entry). tests/infra/ checks these maps against the code.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  project_number = data.google_project.this.number

  # Cloud Run service name of each function: the entry point with hyphens (Cloud Run names allow no
  # underscores, and identical names keep the console, logs and metrics readable).
  function_names = { for fn, spec in local.function_specs : fn => replace(fn, "_", "-") }

  # Cloud Run's deterministic URL, https://<service>-<project number>.<region>.run.app, is known before
  # the function exists. The webhook is given agent_turn's URL in the same apply without a dependency
  # cycle through the single for_each function resource, and the URL is the OIDC audience Cloud Run
  # accepts for tasks (a *.run.app URL). checks.tf verifies it against the deployed services.
  function_urls = {
    for fn, name in local.function_names : fn => "https://${name}-${local.project_number}.${var.region}.run.app"
  }
}
