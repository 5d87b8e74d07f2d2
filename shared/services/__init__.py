"""Use cases: each takes its ports as arguments and knows nothing of HTTP or of client libraries."""
