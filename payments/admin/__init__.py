"""The operators' back-office. Money is read-only here: it changes only through
actions that call the same services as the API, and each is audited (the
payment's timeline with the operator as actor, and the admin's own history).

The admin of each concern is a module of this package; importing it registers
its ModelAdmins.
"""

from payments.admin.payments import PaymentAdmin
from payments.admin.records import ApiClientAdmin, IdempotencyKeyAdmin, RefundAdmin

__all__ = ["ApiClientAdmin", "IdempotencyKeyAdmin", "PaymentAdmin", "RefundAdmin"]
