# Stripe objects are synced into dj-stripe's own tables; this app adds none yet.
