"""Pure domain: pydantic models and rules. Nothing here imports google.* or does I/O."""
