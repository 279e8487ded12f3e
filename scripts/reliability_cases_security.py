"""The cases of docs/RELIABILITY.md (scripts/reliability_report.py), second part:
security hardening, merchant integration. (area, case, [test node ids])"""

CASES_SECOND: list[tuple[str, str, list[str]]] = [
    (
        "Security hardening",
        "Idempotency-Key fingerprint: an HMAC under the server's secret, never a plain hash of a body holding a card "
        "(also for requests refused with raw_card_data_not_accepted)",
        [
            "payments/tests/services/test_idempotency.py::"
            "test_the_stored_fingerprint_is_a_keyed_hash_never_a_plain_hash_of_the_card"
        ],
    ),
    (
        "Security hardening",
        "The stored idempotent answer holds no client_secret; a replay answers without it",
        [
            "payments/tests/services/test_idempotency.py::test_a_replay_returns_the_first_answer_and_charges_once"
        ],
    ),
    (
        "Security hardening",
        "Log redaction covers tracebacks (exc_info) and stack text; the card-data scanner proves it",
        [
            "gateway/tests/test_card_data_scan.py::"
            "test_a_traceback_through_the_configured_handlers_carries_no_card_data"
        ],
    ),
    (
        "Security hardening",
        "With ACCEPT_RAW_CARD_DATA off, /stripe/validate-card refuses card numbers too",
        [
            "stripe_integration/tests/test_validate_card.py::"
            "test_with_raw_card_data_refused_validate_card_refuses_it_too"
        ],
    ),
    (
        "Security hardening",
        "Every admin action and custom page declares its permission: refused to a view-only staff user and to a "
        "user with none; operators get their job's actions, not revoke or reprocess",
        [
            "gateway/tests/test_admin_permissions.py::"
            "test_every_custom_action_is_refused_to_a_viewer_and_to_a_user_without_permissions",
            "gateway/tests/test_admin_permissions.py::"
            "test_every_custom_admin_page_is_refused_to_a_viewer_and_to_a_user_without_permissions",
            "gateway/tests/test_admin_permissions.py::"
            "test_operators_get_the_actions_of_their_job_and_not_the_administrators",
        ],
    ),
    (
        "Security hardening",
        "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
        "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
        "from; 15-minute idle session timeout",
        [
            "gateway/tests/test_security.py::test_admin_logins_lock_out_a_username_from_one_address_only",
            "gateway/tests/test_mfa.py::test_a_strangers_wrong_passwords_lock_only_the_stranger",
            "gateway/tests/test_mfa.py::test_the_username_cap_spares_the_addresses_the_operator_signed_in_from",
            "gateway/tests/test_mfa.py::test_one_address_alone_cannot_fill_the_username_cap",
            "gateway/tests/test_mfa.py::test_wrong_second_factor_codes_count_as_failed_logins_across_sessions",
            "gateway/tests/test_security.py::test_an_idle_admin_session_ends_after_15_minutes",
        ],
    ),
    (
        "Security hardening",
        "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
        "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
        "accepted twice; five wrong codes end the session; no passwordless passkey login",
        [
            "gateway/tests/test_mfa.py::test_a_password_alone_opens_no_admin_page_not_even_for_a_superuser",
            "gateway/tests/test_mfa.py::test_enrolment_with_an_authenticator_app_then_recovery_codes_shown_once",
            "gateway/tests/test_mfa.py::test_a_totp_code_verifies_a_session_and_is_not_accepted_twice",
            "gateway/tests/test_mfa.py::test_five_wrong_codes_sign_the_session_out",
            "gateway/tests/test_mfa.py::test_a_recovery_code_works_once",
            "gateway/tests/test_mfa.py::test_no_passwordless_passkey_login",
            "gateway/tests/scenarios/test_operators_browser.py::test_an_authenticator_app_code_signs_in",
            "gateway/tests/scenarios/test_operators_browser.py::test_a_recovery_code_signs_in_once",
            "gateway/tests/scenarios/test_operators_browser.py::test_a_password_only_session_reaches_no_admin_page",
            "gateway/tests/test_admin_permissions.py::"
            "test_every_custom_admin_page_is_refused_to_a_viewer_and_to_a_user_without_permissions",
        ],
    ),
    (
        "Security hardening",
        "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a passkey "
        "need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another superuser, "
        "audited",
        [
            "gateway/tests/test_mfa.py::test_a_refund_above_the_step_up_amount_asks_for_the_factor_again",
            "gateway/tests/test_mfa.py::test_a_refund_at_or_below_the_step_up_amount_needs_no_new_check",
            "gateway/tests/test_mfa.py::test_revoking_an_api_key_needs_a_fresh_second_factor",
            "gateway/tests/test_mfa.py::"
            "test_only_another_superuser_resets_a_lost_factor_after_a_fresh_check_and_it_is_audited",
            "gateway/tests/test_mfa.py::test_a_passkey_cannot_be_added_to_an_enrolled_account_without_a_fresh_check",
            "gateway/tests/test_mfa.py::test_splitting_a_refund_does_not_avoid_the_step_up",
            "gateway/tests/test_mfa.py::test_a_new_account_or_api_key_needs_a_fresh_second_factor",
            "gateway/tests/test_mfa.py::"
            "test_a_staff_user_who_may_change_users_cannot_grant_rights_or_touch_a_superuser",
            "gateway/tests/test_mfa.py::test_a_factor_reset_ends_the_users_sessions",
            "gateway/tests/scenarios/test_operators_browser.py::"
            "test_a_passkey_is_enrolled_then_signs_in_and_confirms_a_large_refund",
        ],
    ),
    (
        "Security hardening",
        "A new API key is shown in its own answer only (no-store), never in the messages cookie or the session",
        ["gateway/tests/test_mfa.py::test_a_new_api_key_is_shown_in_its_answer_only_never_in_a_cookie"],
    ),
    (
        "Security hardening",
        "The back office lists Payments, Refunds and API clients first and folds dj-stripe's mirror into one link; "
        "no Save button on a payment, amounts with thousands separators",
        [
            "payments/tests/test_admin.py::test_the_back_office_lists_the_operators_records_first_and_folds_the_mirror",
            "payments/tests/test_admin.py::"
            "test_a_payment_page_has_no_save_buttons_even_for_a_superuser_and_amounts_have_separators",
        ],
    ),
    (
        "Security hardening",
        "Events published to merchants say `operator`, never the operator's username",
        ["payments/tests/test_admin.py::test_events_of_an_operators_refund_do_not_name_the_operator"],
    ),
    (
        "Security hardening",
        "Production by default; a live key with DEBUG, the development SECRET_KEY or webhook secret, or "
        "LOCALSTRIPE_QUIRKS stops start-up; production refuses a missing or borrowed OTP secret",
        [
            "gateway/tests/test_settings.py::test_with_nothing_set_it_is_production_and_refuses_to_start_without_secrets",
            "gateway/tests/test_settings.py::test_a_live_key_with_any_development_setting_stops_start_up",
            "gateway/tests/test_settings.py::test_production_refuses_a_missing_or_borrowed_otp_secret",
        ],
    ),
    (
        "Security hardening",
        "Charge and refund webhooks act on the PSP's objects, re-fetched: a forged refund event changes nothing; "
        "unsigned deliveries are not stored",
        [
            "stripe_integration/tests/test_webhooks.py::test_a_forged_refund_event_cannot_mark_a_payment_refunded",
            "stripe_integration/tests/test_webhooks.py::"
            "test_a_refund_event_naming_another_payment_intent_is_not_applied_to_ours",
            "stripe_integration/tests/test_webhooks.py::test_a_missing_or_bad_signature_is_400_and_changes_nothing",
        ],
    ),
    (
        "Security hardening",
        "/health/ready limited per IP, its Kafka and PSP checks cached; /metrics token compared in constant time",
        [
            "gateway/tests/test_rate_limits.py::test_health_ready_is_limited_per_ip_and_its_remote_checks_are_cached",
            "gateway/tests/test_metrics.py::test_the_metrics_token_is_compared_in_constant_time",
        ],
    ),
    (
        "Security hardening",
        "No .env (at any depth) or key file in the Docker build context; checked by `make lint`",
        [
            "gateway/tests/test_docker_context.py::test_the_dockerignore_keeps_every_env_file_out_at_any_depth",
            "gateway/tests/test_docker_context.py::test_the_check_finds_a_secret_file_that_the_patterns_miss",
            "gateway/tests/test_docker_context.py::test_the_repository_sends_no_secret_file_to_the_builder",
        ],
    ),
    (
        "Security hardening",
        "Missing or wrong API keys limited per address and per key prefix (429), consulted only after a lookup "
        "failed: a valid key is never refused for other callers' wrong keys; made-up prefixes cost no query; a "
        "revoked key cannot be cached back by a racing read",
        [
            "gateway/tests/test_rate_limits.py::"
            "test_missing_and_wrong_api_keys_are_limited_per_address_and_a_good_key_still_works",
            "gateway/tests/test_rate_limits.py::test_a_valid_key_is_never_refused_for_other_callers_wrong_keys",
            "gateway/tests/test_rate_limits.py::test_wrong_keys_are_counted_per_key_prefix_across_addresses",
            "gateway/tests/test_rate_limits.py::"
            "test_a_revoked_key_cannot_be_cached_back_by_a_read_that_began_before_the_revocation",
        ],
    ),
    (
        "Security hardening",
        "Only invalid webhook signatures are counted: a flood of them never refuses Stripe's valid deliveries",
        [
            "gateway/tests/test_rate_limits.py::test_a_flood_of_invalid_webhook_signatures_never_refuses_a_valid_delivery"
        ],
    ),
    (
        "Security hardening",
        "Behind a proxy, production refuses to start without RATELIMIT_TRUSTED_PROXIES (the k8s manifests set "
        "them); each role needs only its own secrets (the relay and beat get no Stripe key or OTP secret); any "
        "_live_ key is live; dj-stripe sees only the rk_ sync key; production refuses the console e-mail backend; "
        "Kafka TLS/SASL and Redis AUTH/TLS are settings",
        [
            "gateway/tests/test_settings.py::test_production_behind_a_proxy_needs_its_trusted_addresses",
            "gateway/tests/test_settings.py::test_each_role_needs_only_its_own_secrets",
            "gateway/tests/test_settings.py::test_any_live_key_is_live_for_the_live_mode_guards",
            "gateway/tests/test_settings.py::test_djstripe_never_sees_the_secret_key",
            "gateway/tests/test_settings.py::test_production_refuses_the_console_email_backend",
            "gateway/tests/test_settings.py::test_kafka_tls_and_sasl_and_redis_tls_are_settings",
            "stripe_integration/tests/test_djstripe_sync.py::"
            "test_without_a_sync_key_the_mirror_is_off_and_never_uses_the_secret_key",
        ],
    ),
    (
        "Security hardening",
        "k8s: default-deny NetworkPolicies (ingress to web only; each component's egress to what it uses), one "
        "Secret per component, trusted proxies set",
        [
            "gateway/tests/test_deploy_manifests.py::test_a_default_deny_network_policy_exists",
            "gateway/tests/test_deploy_manifests.py::"
            "test_each_component_has_a_network_policy_and_only_web_accepts_ingress",
            "gateway/tests/test_deploy_manifests.py::test_only_web_and_worker_may_reach_https",
            "gateway/tests/test_deploy_manifests.py::test_only_the_relay_may_reach_kafka",
            "gateway/tests/test_deploy_manifests.py::test_every_workload_sets_its_role_and_takes_only_its_own_secret",
            "gateway/tests/test_deploy_manifests.py::test_the_relay_and_beat_secrets_hold_no_stripe_otp_or_email_key",
            "gateway/tests/test_deploy_manifests.py::test_the_configmap_trusts_the_ingress_as_a_proxy",
        ],
    ),
    (
        "Security hardening",
        "/health/ready does not require the PSP and gives details to internal callers only; /metrics needs the "
        "token through the ingress; GET /stripe/payment/{id} reads the PSP only for open payments, under psp_read",
        [
            "gateway/tests/test_health.py::test_ready_reports_the_psp_down_and_stays_ready",
            "gateway/tests/test_health.py::test_ready_details_and_metrics_go_to_internal_callers_only",
            "stripe_integration/tests/test_psp_reads.py::"
            "test_a_settled_payment_is_answered_as_stored_without_a_psp_call",
            "stripe_integration/tests/test_psp_reads.py::"
            "test_an_open_payment_is_refreshed_under_the_clients_own_lower_limit",
        ],
    ),
    (
        "Security hardening",
        "Card data and secrets at rest: no Idempotency-Key fingerprint for a raw card refused before any work (a "
        "migration forgets earlier ones); client_secret kept nowhere (next_action, stored answers, webhooks); "
        "the cache holds JSON, never pickle; disputes re-fetched and checked against the payment's charge",
        [
            "payments/tests/services/test_idempotency.py::"
            "test_a_raw_card_refused_before_any_work_leaves_no_key_and_no_fingerprint",
            "payments/tests/services/test_idempotency.py::"
            "test_the_migration_forgets_the_fingerprints_earlier_releases_kept_for_refused_cards",
            "payments/tests/test_client_secret_never_kept.py::test_the_client_secret_is_answered_once_and_stored_nowhere",
            "payments/tests/test_client_secret_never_kept.py::test_a_stored_webhook_keeps_no_client_secret",
            "stripe_integration/tests/test_webhooks.py::test_a_dispute_event_that_names_another_payment_is_not_recorded_on_it",
        ],
    ),
    (
        "Security hardening",
        "An amount underflowing to zero (1e-1000030) is 400 invalid_amount on every amount path; a charset outside "
        "utf-8, us-ascii and iso-8859-1 (bz2_codec, undefined) is 415 everywhere, the admin's multipart posts too",
        [
            "gateway/tests/scenarios/test_hostile_input.py::test_an_amount_that_underflows_to_zero_is_400_on_every_amount_path",
            "gateway/tests/scenarios/test_hostile_input.py::test_a_charset_that_is_not_a_text_encoding_is_415_everywhere",
            "gateway/tests/scenarios/test_hostile_input.py::test_a_multipart_post_with_an_undefined_charset_is_415_not_500",
        ],
    ),
    (
        "Security hardening",
        "OTP thresholds fail closed for a currency they do not cover",
        ["otp/tests/test_holds.py::test_a_currency_the_thresholds_do_not_cover_is_held_for_a_code"],
    ),
    (
        "Security hardening",
        "The whole dependency tree is locked with hashes and installed with --require-hashes",
        [
            "gateway/tests/test_dependency_lock.py::"
            "test_every_locked_package_has_a_hash_and_every_direct_pin_is_locked",
            "gateway/tests/test_dependency_lock.py::test_the_dev_lock_agrees_with_the_runtime_lock",
        ],
    ),
    (
        "Exactly once",
        "A charge the PSP answers with an idempotency conflict (or a 429 on a retry) stays processing for "
        "reconciliation, never failed; a resent charge keeps its return_url; a PSP success for a payment "
        "recorded failed is parked for an operator",
        [
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_a_charge_whose_key_the_psp_saw_with_other_parameters_is_not_marked_failed",
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_a_resent_charge_keeps_its_return_url_so_the_psp_answers_the_first",
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_a_psp_success_for_a_payment_recorded_failed_is_parked_not_ignored",
        ],
    ),
    (
        "Security hardening",
        "A forged payment_intent event cannot link a PaymentIntent that is not the payment's (metadata, amount "
        "and currency from the PSP's copy)",
        [
            "stripe_integration/tests/test_webhooks.py::"
            "test_a_forged_event_cannot_link_another_payment_intent_to_a_payment"
        ],
    ),
    (
        "Security hardening",
        "stripe-python never prints request bodies (STRIPE_LOG neutralised); URL-encoded CVCs are redacted",
        [
            "payments/tests/test_card_data_never_kept.py::"
            "test_stripe_python_never_prints_request_bodies_whatever_stripe_log_says"
        ],
    ),
    (
        "Security hardening",
        "Production refuses the per-process cache (no REDIS_URL) and SQLite",
        ["gateway/tests/test_settings.py::test_production_refuses_the_embedded_cache_and_sqlite"],
    ),
    (
        "Merchant integration",
        "A webhook carries the Kafka message's id and bytes, signed per Standard Webhooks (verified with the "
        "standardwebhooks library); nothing for a rolled-back change",
        [
            "payments/webhooks/tests/test_real_services.py::test_a_payments_deliveries_carry_the_kafka_messages_id_and_bytes",
            "payments/webhooks/tests/test_delivery.py::test_a_committed_event_reaches_the_endpoint_signed_with_the_kafka_body_and_id",
            "payments/webhooks/tests/test_delivery.py::test_nothing_is_delivered_for_a_rolled_back_change",
        ],
    ),
    (
        "Merchant integration",
        "A receiver failing twice gets three attempts on WEBHOOK_RETRY_SCHEDULE; a dead receiver delays neither "
        "Kafka nor another merchant",
        [
            "payments/webhooks/tests/test_delivery.py::test_a_receiver_that_fails_twice_then_succeeds_gets_three_attempts_on_the_schedule",
            "payments/webhooks/tests/test_real_services.py::test_a_dead_receiver_does_not_delay_the_kafka_events",
            "payments/webhooks/tests/test_delivery.py::test_a_dead_endpoint_does_not_hold_up_another_clients_endpoint",
        ],
    ),
    (
        "Merchant integration",
        "Webhook URLs are SSRF-safe: link-local always refused, private and http refused in production, the "
        "connection goes to the address checked (DNS rebinding), redirects not followed",
        [
            "payments/webhooks/tests/test_net.py::test_link_local_and_non_unicast_addresses_are_refused_even_in_development",
            "payments/webhooks/tests/test_net.py::test_production_refuses",
            "payments/webhooks/tests/test_net.py::test_dns_rebinding_the_connection_goes_to_the_address_that_was_checked",
            "payments/webhooks/tests/test_delivery.py::test_a_redirect_is_a_failure_and_is_not_followed",
        ],
    ),
    (
        "Merchant integration",
        "The hosted payment page in Chromium: pay, decline, 3-D Secure, cancel; no card number reaches the "
        "gateway; the merchant's webhook arrives signed",
        [
            "gateway/tests/scenarios/test_payment_page_browser.py::test_the_payer_pays_on_the_hosted_page_and_returns_to_the_merchant",
            "gateway/tests/scenarios/test_payment_page_browser.py::test_a_declined_card_is_shown_and_the_payment_stays_open",
            "gateway/tests/scenarios/test_payment_page_browser.py::test_three_d_secure_in_the_browser",
            "gateway/tests/scenarios/test_payment_page_browser.py::test_failed_three_d_secure_then_cancel",
        ],
    ),
    (
        "Merchant integration",
        "An expiry racing the payer is decided by the PSP: a payer who paid in time is never canceled, a "
        "confirmation after the cancel takes no money",
        [
            "payments/tests/test_client_confirmation.py::test_a_payer_who_paid_in_time_is_never_canceled_by_the_expiry",
            "payments/tests/test_client_confirmation.py::test_a_confirmation_that_comes_after_the_expiry_canceled_takes_no_money",
            "payments/tests/test_client_confirmation.py::test_a_waiting_payment_is_canceled_when_it_expires",
        ],
    ),
    (
        "Security",
        "Admin behind staff login with CSRF; security headers; check --deploy clean",
        [
            "gateway/tests/test_security.py::test_the_admin_needs_a_staff_login_and_a_csrf_token",
            "gateway/tests/test_security.py::test_security_headers_are_set",
            "gateway/tests/test_settings.py::test_production_settings_pass_check_deploy",
        ],
    ),
]
