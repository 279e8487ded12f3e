"""The cases of docs/RELIABILITY.md (scripts/reliability_report.py), first part:
bad input, faults, exactly once, concurrency, security. (area, case, [test node ids])"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The fault-point matrix of the exactly-once issue: one row per point, for a
# payment and for a refund (ids and descriptions from the test module itself).
_EXACTLY_ONCE = "gateway/tests/scenarios/test_exactly_once.py"


def _fault_point_cases() -> list[tuple[str, str, list[str]]]:
    import ast

    tree = ast.parse((ROOT / _EXACTLY_ONCE).read_text())
    tables = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("PAYMENT_FAULT_POINTS", "REFUND_FAULT_POINTS")
    }
    cases = []
    for kind, table, test in (
        ("payment", "PAYMENT_FAULT_POINTS", "test_a_payment_retried_after_a_fault_is_charged_once"),
        ("refund", "REFUND_FAULT_POINTS", "test_a_refund_retried_after_a_fault_is_made_once"),
    ):
        for row_id, point, target, on_call in tables[table]:
            call = "" if on_call == 1 else f" (call {on_call})"
            cases.append(
                (
                    "Exactly once",
                    f"A {kind} fails once {point} (`{target}`{call} raises OperationalError): the client gets "
                    f"503, retries with the same Idempotency-Key, and gets 201; one {kind} and one PSP object, "
                    "in the final status",
                    [f"{_EXACTLY_ONCE}::{test}[{row_id}]"],
                )
            )
    return cases


# (area, case, [test node ids])
CASES_FIRST: list[tuple[str, str, list[str]]] = [
    (
        "Bad input",
        "Schemathesis on every operation of /api/schema/: no 5xx, no response outside the schema",
        ["gateway/tests/scenarios/test_fuzz_schema.py::test_no_operation_answers_5xx_or_breaks_its_schema"],
    ),
    (
        "Bad input",
        "Malformed JSON, non-UTF-8, non-object bodies: 400, nothing recorded",
        ["gateway/tests/scenarios/test_hostile_input.py::test_malformed_json_is_400"],
    ),
    (
        "Bad input",
        "Wrong content types: 415",
        ["gateway/tests/scenarios/test_hostile_input.py::test_a_wrong_content_type_is_415"],
    ),
    (
        "Bad input",
        "Body over the 64 KiB cap: 413",
        ["gateway/tests/scenarios/test_hostile_input.py::test_a_huge_body_is_413"],
    ),
    (
        "Bad input",
        "Deeply nested JSON: 400 (or 413 over the cap)",
        ["gateway/tests/scenarios/test_hostile_input.py::test_deeply_nested_json_is_refused"],
    ),
    (
        "Bad input",
        "Unicode in every string field: kept exactly",
        ["gateway/tests/scenarios/test_hostile_input.py::test_unicode_in_every_string_field_is_kept_exactly"],
    ),
    (
        "Bad input",
        "Amounts 1e400, NaN, Infinity, -0, 0.1+0.2, 20 digits, 3 decimals: 400 with a code",
        [
            "gateway/tests/scenarios/test_hostile_input.py::test_hostile_amounts_are_400",
            "gateway/tests/scenarios/test_hostile_input.py::test_hostile_json_numbers_are_400",
        ],
    ),
    (
        "Bad input",
        "Currency `usd ` (trailing space) refused, `USD` normalised to `usd`",
        [
            "gateway/tests/scenarios/test_hostile_input.py::test_currency_with_a_space_is_refused_and_upper_case_is_normalised"
        ],
    ),
    (
        "Bad input",
        "SQL and HTML in order_id and description: stored as text, escaped in the admin",
        [
            "gateway/tests/scenarios/test_hostile_input.py::test_sql_and_html_in_order_id_and_description_are_plain_text"
        ],
    ),
    (
        "Bad input",
        "Idempotency-Key of 10,000 characters: 400",
        ["gateway/tests/scenarios/test_hostile_input.py::test_a_10000_character_idempotency_key_is_400"],
    ),
    (
        "Faults",
        "MariaDB restarted: 503 database_unavailable, then 201; nothing half-written",
        ["gateway/tests/scenarios/test_faults.py::test_with_mariadb_restarted_requests_get_503_then_succeed"],
    ),
    (
        "Faults",
        "Redis stopped: payments work, rate limits fail open, OTP answers 503",
        [
            "gateway/tests/scenarios/test_faults.py::test_with_redis_stopped_payments_work_limits_fail_open_and_otp_is_503",
            "otp/tests/test_holds.py::test_otp_answers_503_when_redis_is_down",
        ],
    ),
    (
        "Faults",
        "Kafka stopped: payments succeed, the outbox keeps every event, all published once after",
        [
            "gateway/tests/test_events.py::test_with_kafka_stopped_payments_still_succeed_and_the_sweeper_publishes_all_of_them_once"
        ],
    ),
    (
        "Faults",
        "PSP slow (timeout) or refused: processing or 503, never wrongly settled; reconciliation settles",
        [
            "payments/tests/services/test_psp_outages.py::test_a_psp_timeout_leaves_the_payment_processing_and_reconciliation_settles_it",
            "payments/tests/services/test_psp_outages.py::test_a_refused_connection_on_charge_is_also_an_unknown_outcome",
            "payments/tests/services/test_psp_outages.py::test_an_unreachable_psp_during_tokenization_is_503_and_the_client_can_retry",
        ],
    ),
    (
        "Faults",
        "SIGKILL during a burst: every PSP charge has its payment; reconciliation settles the charged "
        "ones by search and parks the never-charged ones, sending no charge; zero double charges",
        ["gateway/tests/scenarios/test_crash.py::test_sigkill_during_a_burst_loses_no_charge"],
    ),
    *_fault_point_cases(),
    (
        "Exactly once",
        "A claim left in flight by a dead process is taken over after its lease: the same payment, one charge",
        [
            "payments/tests/services/test_idempotency.py::test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease"
        ],
    ),
    (
        "Exactly once",
        "A refund failing before its PSP call, never retried by the client, is sent by reconciliation",
        [
            "gateway/tests/scenarios/test_exactly_once.py::"
            "test_a_refund_whose_database_fails_before_the_psp_call_and_then_never_retried_is_reconciled"
        ],
    ),
    (
        "Exactly once",
        "Reconciliation never sends the charge of a request that got no answer (its client may have sent a "
        "second payment): the lost answer is found by a search; a charge owed under a key is sent again with it",
        [
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_within_the_window_a_lost_answer_is_found_by_search_and_nothing_is_sent_again",
            "payments/tests/services/test_psp_outages.py::"
            "test_a_psp_timeout_leaves_the_payment_processing_and_reconciliation_settles_it",
        ],
    ),
    (
        "Exactly once",
        "Issue #24's defects, each replayed against the fake PSP on a test clock: a lease that ran out, OTP "
        "validation resumed, reconciliation, the review command, rolling deploys, a PSP 401, the capture key, "
        "the async task past the key window, key rotation (the simulation covers each class: make test-fast)",
        ["gateway/tests/scenarios/test_exactly_once_regressions.py"],
    ),
    (
        "Exactly once",
        "Past the PSP's key window (keys forgotten, payment 25 h old): the PaymentIntent is found by search, "
        "never charged again; none or two found: parked for an operator (admin, /metrics), resolved by command",
        [
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_past_the_window_the_payment_intent_is_found_by_search_not_charged_again",
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_past_the_window_with_no_payment_intent_the_payment_is_parked_not_charged",
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_past_the_window_two_payment_intents_for_one_payment_are_left_to_an_operator",
        ],
    ),
    (
        "Exactly once",
        "A refund of unknown outcome (the PSP made it, or never got it) is settled by `manage.py refund_reconcile` "
        "and by an admin action; one refund at the PSP",
        [
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_a_refund_whose_outcome_is_unknown_is_settled_by_the_command",
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_operators_settle_a_pending_refund_from_the_admin",
        ],
    ),
    (
        "Exactly once",
        "The admin refund form submitted twice (one-time token): one refund",
        ["payments/tests/test_admin.py::test_the_refund_form_submitted_twice_refunds_once"],
    ),
    (
        "Exactly once",
        "The PSP stand-in keeps Stripe's idempotency contract: a key replays, other parameters are a 400",
        [
            "stripe_integration/tests/test_reconcile_exactly_once.py::"
            "test_localstripe_replays_a_key_and_refuses_it_with_other_parameters"
        ],
    ),
    (
        "Stripe's contract",
        "Every request shape of the client (each charge form, currency kind, refund reason, capture, cancel, "
        "reads) is accepted by stripe-mock with LOCALSTRIPE_QUIRKS off; what Stripe refuses is refused",
        [
            "stripe_integration/tests/test_stripe_contract.py::"
            "test_every_charge_shape_in_every_currency_kind_is_one_stripe_accepts",
            "stripe_integration/tests/test_stripe_contract.py::test_a_raw_card_is_tokenized_with_a_request_stripe_accepts",
            "stripe_integration/tests/test_stripe_contract.py::test_refunds_with_each_reason_are_ones_stripe_accepts",
            "stripe_integration/tests/test_stripe_contract.py::"
            "test_capture_cancel_and_every_read_are_requests_stripe_accepts",
            "stripe_integration/tests/test_stripe_contract.py::test_stripe_mock_refuses_what_stripe_would_refuse",
        ],
    ),
    (
        "Faults",
        "SIGTERM: the request in flight finishes, new ones are refused",
        [
            "gateway/tests/scenarios/test_graceful_shutdown.py::test_a_request_in_flight_finishes_after_sigterm"
        ],
    ),
    (
        "Concurrency",
        "50 identical requests, one Idempotency-Key, two gunicorn processes: one charge",
        [
            "payments/tests/services/test_idempotency.py::test_fifty_identical_requests_across_two_gunicorn_processes_charge_once"
        ],
    ),
    (
        "Concurrency",
        "20 concurrent partial refunds over the total: never beyond the capture",
        ["payments/tests/services/test_refunds.py::test_twenty_concurrent_refunds_never_exceed_the_capture"],
    ),
    (
        "Concurrency",
        "Concurrent OTP validation: one charge",
        ["otp/tests/test_verification.py::test_two_threads_validating_the_same_code_charge_once"],
    ),
    (
        "Concurrency",
        "Two gunicorn processes share one rate limit",
        ["gateway/tests/test_rate_limits.py::test_two_gunicorn_processes_share_one_limit_through_redis"],
    ),
    (
        "Security",
        "Every API operation: no key, revoked key: 401; another client's payment: 404, nothing leaked",
        [
            "gateway/tests/test_security.py::test_without_a_key_every_operation_is_401",
            "gateway/tests/test_security.py::test_with_a_revoked_key_every_operation_is_401",
            "gateway/tests/test_security.py::test_another_clients_payment_is_a_404_that_says_nothing",
        ],
    ),
    (
        "Security",
        "Webhook: forged, other-secret or expired (> 300 s) signature: 400, nothing changes",
        [
            "stripe_integration/tests/test_webhooks.py::test_a_missing_or_bad_signature_is_400_and_changes_nothing",
            "stripe_integration/tests/test_webhooks.py::test_an_old_signature_is_rejected",
        ],
    ),
    (
        "Security",
        "Card data: none in the database, logs, responses or events; the scanner finds what it must",
        [
            "payments/tests/test_card_data_never_kept.py::test_no_card_number_in_the_database_logs_or_responses",
            "gateway/tests/test_events.py::test_no_card_data_otp_or_email_in_any_event",
            "gateway/tests/test_card_data_scan.py::test_it_finds_card_numbers_and_cvcs_in_any_shape",
            "gateway/tests/test_card_data_scan.py::test_it_leaves_alone_what_is_not_card_data",
        ],
    ),
]
