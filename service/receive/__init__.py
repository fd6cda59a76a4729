"""Receiving webhooks: verify, parse, decide, record and enqueue, then answer."""
