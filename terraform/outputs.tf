# What an operator pastes elsewhere: provider webhook URLs, console links. `terraform output` prints them.

locals {
  # The webhook's last path segment names the provider (shared/domain/inbound.py, Provider).
  webhook_providers = ["meta", "evolution", "zapi", "twilio"]
}

output "webhook_urls" {
  description = "Webhook URL per WhatsApp provider (docs/DEPLOY.md, Connecting providers). Meta's is used as is; a gateway channel (Evolution, Z-API, Twilio) gets this URL plus its own ?channel=&key= (scripts/tenancy_admin.py webhook-url[s] prints it)."
  value = {
    for provider in local.webhook_providers :
    # Twilio signs the URL it calls: it gets the URL the code checks (twilio.tf).
    provider => provider == "twilio" ? "${local.public_webhook_url}/twilio" : "${google_cloudfunctions2_function.function["whatsapp_webhook"].url}/${provider}"
  }
}

output "function_urls" {
  description = "URL of every function as the system calls it (Cloud Run deterministic URL; private ones answer only their invokers)."
  value       = local.function_urls
}

output "function_service_accounts" {
  description = "Runtime service account of each function."
  value       = { for fn, sa in google_service_account.function : fn => sa.email }
}

output "invoker_service_accounts" {
  description = "Accounts whose OIDC tokens invoke the private functions, by kind (tasks, scheduler, eventarc, pubsub)."
  value       = { for kind, sa in google_service_account.invoker : kind => sa.email }
}

output "queues" {
  description = "Cloud Tasks queue ids."
  value       = [for queue in google_cloud_tasks_queue.queue : queue.name]
}

output "buckets" {
  description = "Bucket name by role (media, knowledge, source)."
  value       = { for key, bucket in google_storage_bucket.bucket : key => bucket.name }
}

output "topics" {
  description = "Pub/Sub topic ids."
  value       = { for key, topic in google_pubsub_topic.topic : key => topic.id }
}

output "push_subscriptions" {
  description = "Pub/Sub push subscriptions and the function each one feeds (crm-sync -> crm_sync; docs/DEPLOY.md, Connecting a CRM)."
  value       = { for name, sub in google_pubsub_subscription.push : name => local.push_subscriptions[name].target }
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job ids (outbox-drain: publishes domain events the outbox still holds)."
  value       = [for job in google_cloud_scheduler_job.job : job.name]
}

output "dead_letter_subscriptions" {
  description = "Subscriptions holding dead letters for an operator (docs/DEPLOY.md, Dead letters)."
  value       = [for sub in google_pubsub_subscription.dead_letter_hold : sub.name]
}

output "secrets" {
  description = "Secret ids whose values must be added with gcloud (docs/DEPLOY.md, Secrets)."
  value       = keys(google_secret_manager_secret.secret)
}

output "console" {
  description = "Console pages an admin uses."
  value = {
    dashboard = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.piloto.id), 3)}?project=${var.project_id}"
    firestore = "https://console.cloud.google.com/firestore/databases/-default-/data/panel/tenants?project=${var.project_id}"
    alerts    = "https://console.cloud.google.com/monitoring/alerting?project=${var.project_id}"
    logs      = "https://console.cloud.google.com/logs/query?project=${var.project_id}"
    queues    = "https://console.cloud.google.com/cloudtasks?project=${var.project_id}"
    scheduler = "https://console.cloud.google.com/cloudscheduler?project=${var.project_id}"
    pubsub    = "https://console.cloud.google.com/cloudpubsub/subscription/list?project=${var.project_id}"
  }
}
