"""Versions of what a cached answer is made of, moved by the writes themselves (nobody bumps a number by hand).

    tenants/{t}/content_versions/knowledge   {"version": n}   incremented by every knowledge write that changes
                                                             what a search can find (a file indexed or deleted,
                                                             old chunks removed, a learned answer approved)
    tenants/{t}/catalog/*                                    fingerprinted from the item ids and update times,
                                                             so an edit in the console moves it too
"""

from __future__ import annotations

import hashlib

from google.cloud import firestore

# The catalogue tool reads at most this many items (tools.py); the fingerprint covers the same ones.
CATALOG_ITEMS = 200


def knowledge_version_ref(db: firestore.Client, tenant_id: str) -> firestore.DocumentReference:
    return db.collection("tenants").document(tenant_id).collection("content_versions").document("knowledge")


def bump_knowledge_version(writer: firestore.Transaction | firestore.WriteBatch | None, db: firestore.Client,
                           tenant_id: str) -> None:
    """Inside the caller's transaction or batch when it has one, so the change and the bump land together."""
    ref = knowledge_version_ref(db, tenant_id)
    change = {"version": firestore.Increment(1), "updated_at": firestore.SERVER_TIMESTAMP}
    if writer is None:
        ref.set(change, merge=True)
    else:
        writer.set(ref, change, merge=True)


def content_version(db: firestore.Client, tenant_id: str) -> str:
    """'k<knowledge version>-c<catalogue fingerprint>'. The catalogue costs one read per item (ids and update
    times only, no fields): paid on FAQ turns only, where a hit saves a model call."""
    snap = knowledge_version_ref(db, tenant_id).get()
    knowledge = int((snap.to_dict() or {}).get("version", 0)) if snap.exists else 0
    items = (db.collection("tenants").document(tenant_id).collection("catalog")
             .select([]).limit(CATALOG_ITEMS).stream())
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda s: s.id):
        digest.update(f"{item.id}\x1f{item.update_time.isoformat() if item.update_time else ''}\x1e".encode())
    return f"k{knowledge}-c{digest.hexdigest()[:16]}"
