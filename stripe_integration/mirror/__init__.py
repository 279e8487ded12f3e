"""The dj-stripe mirror, in one home: Stripe's objects of our payments copied
into dj-stripe's tables for operators (the design card's choice), on demand or
in batches, never in a request.

batches.py     what waits for a mirror, and the batches (DJSTRIPE_MIRROR=batch)
sync.py        one payment's PaymentIntent, Charge and Refunds into dj-stripe
tasks.py       the Celery tasks, on the "djstripe" queue
receivers.py   a payment's change asks for a batch
admin.py       the action and the link on the payments' pages
bootstrap.py   the dj-stripe rows localstripe cannot provide
management/    djstripe_mirror

No other code reads dj-stripe's tables; with DJSTRIPE_MIRROR=off this app and
dj-stripe are not installed (the fast tier runs so).
"""
