"""Cloud Functions entry points: thin adapters from HTTP/CloudEvents to one service call each."""
