# The OTP app keeps its codes in Redis (or the cache), not in tables; see the
# OTP issue. This module exists so that Django treats otp/ as an app.
