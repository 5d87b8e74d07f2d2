# Firestore (native mode): the one database. Paths and the queries that need indexes are in
# ARCHITECTURE.md; tests/infra checks that every collection named here is one the code uses and that
# every collection-group query in the code has its index here.

resource "google_firestore_database" "main" {
  name        = "(default)"
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"
  # Transactions (the reply lease) rely on pessimistic locking, the native-mode default; set so a
  # console change shows as drift.
  concurrency_mode            = "PESSIMISTIC"
  app_engine_integration_mode = "DISABLED"
  # 7 days of point-in-time recovery: a bad deploy or a mistaken admin edit can be read back.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # `terraform destroy` leaves the data alone; deleting customers' conversations is never a side effect.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.api]
}

locals {
  # Single-field index overrides, keyed "<collection>.<field>".
  firestore_fields = {
    # The webhook knows the phone number id / instance before it knows the tenant: it finds the channel
    # with a collection-group query on channels.channel_key, which needs a collection-group index.
    # The collection-scope index is listed too because an override replaces the automatic ones.
    "channels.channel_key" = {
      collection = "channels"
      field      = "channel_key"
      indexes = [
        { order = "ASCENDING", query_scope = "COLLECTION_GROUP" },
        { order = "ASCENDING", query_scope = "COLLECTION" },
      ]
    }
    # followup_sweep's one cross-tenant read (shared/adapters/firestore_followups.FirestoreFollowupStore):
    # collection group conversations, next_followup_at <= now, ordered by it. A range and an order on
    # one field are served by that field's single-field index (a composite index needs two fields); a
    # collection-group query needs the collection-group one, which Firestore never creates by itself.
    "conversations.next_followup_at" = {
      collection = "conversations"
      field      = "next_followup_at"
      indexes = [
        { order = "ASCENDING", query_scope = "COLLECTION_GROUP" },
        { order = "ASCENDING", query_scope = "COLLECTION" },
      ]
    }
  }

  # TTL policies, keyed "<collection>.<field>": documents are deleted (within about a day) once the
  # timestamp in that field has passed. Indexing on the field is switched off: an index on an
  # ever-increasing timestamp is a write hotspot and no query uses it.
  firestore_ttl_fields = {
    # FAQ answers reused across leads (shared/adapters/firestore_answer_cache.FirestoreAnswerCache); the code
    # also checks expire_at itself, since TTL deletion may lag by a day.
    "answer_cache.expire_at" = { collection = "answer_cache", field = "expire_at" }
    # Published domain events (tenants/{t}/outbox) and finished CRM deliveries (crm_deliveries): kept
    # events.retention_days (CRM_RETENTION_DAYS) after publication / delivery, then deleted. Pending
    # outbox events and deliveries in progress carry no expire_at and stay.
    "outbox.expire_at"         = { collection = "outbox", field = "expire_at" }
    "crm_deliveries.expire_at" = { collection = "crm_deliveries", field = "expire_at" }
    # Slot holds of meetings (shared/adapters/firestore_bookings.py): a day after the slot, nobody needs them.
    "slot_holds.expire_at" = { collection = "slot_holds", field = "expire_at" }
  }

  # Composite and vector indexes, keyed by a name. Each field has either an `order` (ASCENDING or
  # DESCENDING) or a `vector_dimension` (a flat vector index of that many dimensions), never both.
  firestore_indexes = {
    # The knowledge base's search (shared/adapters/firestore_knowledge.py): find_nearest on
    # tenants/{t}/knowledge_chunks.embedding (cosine) with an equality pre-filter on agent_id, one
    # query per scope (the agent, then "shared"). Collection scope: the tenant is the path.
    # Firestore stores a vector index as [pre-filter fields, __name__, vector field]; declaring
    # __name__ where Firestore puts it keeps the plan clean (the provider only ignores a trailing
    # __name__, and an index is immutable: any diff would replace it at every apply).
    # The dimension is the one every function embeds with (EMBEDDING_DIMENSIONS, functions.tf):
    # changing knowledge.embedding_dimensions or the model rebuilds the index, and every document must
    # then be re-indexed (docs/DEPLOY.md, "Knowledge base").
    knowledge_chunks_embedding = {
      collection  = "knowledge_chunks"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "agent_id", order = "ASCENDING", vector_dimension = null },
        { field_path = "__name__", order = "ASCENDING", vector_dimension = null },
        { field_path = "embedding", order = null, vector_dimension = var.knowledge.embedding_dimensions },
      ]
    }

    # outbox_drain's query (shared/adapters/firestore_outbox.FirestoreEventOutbox.pending): every tenant's
    # pending events, oldest first: collection group outbox, state == "pending", occurred_at <= t,
    # ordered by occurred_at then event_id. Equality field first, then the order.
    outbox_pending = {
      collection  = "outbox"
      query_scope = "COLLECTION_GROUP"
      fields = [
        { field_path = "state", order = "ASCENDING", vector_dimension = null },
        { field_path = "occurred_at", order = "ASCENDING", vector_dimension = null },
        { field_path = "event_id", order = "ASCENDING", vector_dimension = null },
      ]
    }
  }
}

resource "google_firestore_field" "index" {
  for_each   = local.firestore_fields
  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  index_config {
    dynamic "indexes" {
      for_each = each.value.indexes
      content {
        order       = indexes.value.order
        query_scope = indexes.value.query_scope
      }
    }
  }
}

resource "google_firestore_field" "ttl" {
  for_each   = local.firestore_ttl_fields
  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  ttl_config {}
  index_config {}
}

resource "google_firestore_index" "index" {
  for_each    = local.firestore_indexes
  database    = google_firestore_database.main.name
  collection  = each.value.collection
  query_scope = each.value.query_scope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
      dynamic "vector_config" {
        for_each = fields.value.vector_dimension == null ? [] : [fields.value.vector_dimension]
        content {
          dimension = vector_config.value
          flat {}
        }
      }
    }
  }
}
