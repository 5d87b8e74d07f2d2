"""The design Piloto avoids, for comparison only: store the message, then call the model inside the webhook.

Served by functions-framework like the real webhook; the model call is simulated by a 2 s sleep.
"""

import time
import uuid

import flask
import functions_framework
from google.cloud import firestore

_db: firestore.Client | None = None
MODEL_LATENCY_SECONDS = 2.0


@functions_framework.http
def naive_webhook(request: flask.Request) -> tuple[dict, int]:
    global _db
    _db = _db or firestore.Client()
    _db.collection("bench").document("naive").collection("messages").document(uuid.uuid4().hex).create(
        {"body": request.get_data(as_text=True)[:200]})
    time.sleep(MODEL_LATENCY_SECONDS)  # the model answers before the provider gets its 200
    return {"ok": True}, 200
