"""Pydantic models: separate families for requests (…Request), responses and storage (dal)."""
