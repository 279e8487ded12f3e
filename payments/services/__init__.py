"""Payments services: the only code that writes payments data.

api_clients  API keys
payments     create, charge, settle, cancel, sync a payment
refunds      refunds within what was captured
idempotency  Idempotency-Key records
events       the payment timeline
"""
