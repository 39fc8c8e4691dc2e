"""Transport behaviour against the sandbox over real HTTP: region, auth, throttling, faults, secrecy."""

import base64
import json
import threading

import pytest
from esp_providers import (
    AuthenticationError,
    EspConnectionError,
    InvalidResponse,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from esp_providers.dotdigital import DotdigitalProvider
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

BOOKS = "/v2/address-books"


@pytest.fixture
def make_provider(sandbox):
    """Providers on the sandbox with short timeouts and backoffs, closed after the test."""
    created = []

    def factory(**options):
        settings = {
            "username": sandbox.api_user,
            "password": sandbox.api_password,
            "base_url": sandbox.url,
            "timeout": (2.0, 5.0),
            "max_retries": 2,
            "backoff_factor": 0.01,
            "max_wait": 2.0,
            "throttle_retries": 2,
            "default_throttle_wait": 0.1,
            "flat_rate_wait": 0.1,
        }
        settings.update(options)
        provider = DotdigitalProvider(**settings)
        created.append(provider)
        return provider

    yield factory
    for provider in created:
        provider.close()


@pytest.fixture
def other_region():
    """A stand-in for another region's endpoint: it refuses every call with 403 like dotdigital does.

    Its own account-info points back at itself, to test a 403 that re-detection cannot cure.
    """

    @Request.application
    def app(request):
        if request.path == "/v2/account-info":
            body = {"id": 1, "properties": [{"name": "ApiEndpoint", "type": "String", "value": url}]}
            return Response(json.dumps(body), content_type="application/json")
        return Response(json.dumps({"message": "Access is denied."}), 403, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join()


# ----------------------------------------------------------------------------------------------------------
# Region and authentication
# ----------------------------------------------------------------------------------------------------------


def test_connection_detects_region_endpoint(sandbox, make_provider, api_calls, monkeypatch):
    # Configured through "localhost": the endpoint announced by account-info (127.0.0.1) must be used after.
    monkeypatch.setattr(sandbox.app.config, "public_url", sandbox.url)
    port = sandbox.url.rsplit(":", 1)[1]
    provider = make_provider(base_url=f"http://localhost:{port}")
    info = provider.test_connection()
    assert info.endpoint == sandbox.url
    assert info.account_id == 424242
    assert info.main_email == "owner@sandbox.example.com"
    assert provider.endpoint == sandbox.url
    books = list(provider.iter_address_books())
    assert {book.name for book in books} >= {"Test", "All Contacts"}
    assert [entry["path"] for entry in api_calls()] == ["/v2/account-info", BOOKS]
    assert provider.stats.calls == 2


def test_first_operation_detects_region_lazily(sandbox, make_provider, api_calls):
    provider = make_provider()
    assert provider.endpoint is None
    list(provider.iter_from_addresses())
    assert provider.endpoint == sandbox.url
    assert [entry["path"] for entry in api_calls()] == ["/v2/account-info", "/v2/custom-from-addresses"]


def test_403_from_stored_endpoint_detects_region_again(sandbox, make_provider, other_region, api_calls):
    calls = []
    provider = make_provider(api_endpoint=other_region, on_call=lambda status, throttled: calls.append(status))
    books = list(provider.iter_address_books())
    assert books
    assert provider.endpoint == sandbox.url
    # 403 from the stale region, account-info from the configured base, then the call repeated once.
    assert calls == [403, 200, 200]
    assert [entry["path"] for entry in api_calls()] == ["/v2/account-info", BOOKS]


def test_403_that_detection_cannot_cure_is_raised(make_provider, other_region):
    provider = make_provider(base_url=other_region)
    with pytest.raises(PermissionDenied) as info:
        list(provider.iter_address_books())
    assert info.value.status == 403
    assert "Access is denied" in str(info.value)
    # detect, 403, detect again (same endpoint): no repeat of the refused call.
    assert provider.stats.calls == 3


def test_bad_password_is_refused_without_retry(sandbox, make_provider, api_calls):
    provider = make_provider(password="not-the-password")
    with pytest.raises(AuthenticationError) as info:
        provider.test_connection()
    assert info.value.status == 401
    assert "Authorization has been denied" in str(info.value)
    assert "password" in str(info.value)
    assert len(api_calls()) == 1


# ----------------------------------------------------------------------------------------------------------
# Throttling
# ----------------------------------------------------------------------------------------------------------


def test_tiered_429_is_waited_out_when_short(sandbox, make_provider):
    seen = []
    provider = make_provider(on_call=lambda status, throttled: seen.append((status, throttled)))
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "rate_limited", reset=1, scope="medium")
    assert list(provider.iter_address_books())
    assert seen[1:] == [(429, True), (200, False)]
    assert provider.stats.throttled == 1
    assert provider.stats.last_retry_after == 1
    assert provider.stats.last_throttle_at is not None


def test_tiered_budget_exhausted_raises_then_recovers(sandbox, make_provider):
    provider = make_provider()
    provider.test_connection()
    # Start at the beginning of a one-minute window, so the three calls cannot straddle two windows.
    sandbox.advance_clock(60 - sandbox.now()["epoch"] % 60 + 1)
    sandbox.configure(rate_limit={"mode": "tiered", "tiers": {"medium": 2}})
    list(provider.iter_address_books())
    list(provider.iter_address_books())
    with pytest.raises(RateLimited) as info:
        list(provider.iter_address_books())
    error = info.value
    assert error.status == 429
    assert 2 < error.retry_after <= 60  # the window's reset is beyond max_wait: the cron stops
    assert error.is_retryable
    sandbox.advance_clock(60)
    assert list(provider.iter_address_books())


def test_flat_rate_quota_is_throttling_and_recovers(sandbox, make_provider, api_calls):
    # The sandbox counts the hour on its own clock: move it while the client waits, as real time would.
    def on_call(status, throttled):
        if throttled:
            sandbox.advance_clock(3600)

    provider = make_provider(on_call=on_call)
    sandbox.configure(rate_limit={"mode": "flat", "calls_per_hour": 2})
    provider.test_connection()
    list(provider.iter_address_books())
    assert list(provider.iter_address_books())
    assert provider.stats.throttled == 1
    assert [entry["status"] for entry in api_calls()] == [200, 200, 400, 200]


def test_flat_rate_quota_with_long_wait_raises_rate_limited(sandbox, make_provider, api_calls):
    provider = make_provider(flat_rate_wait=300.0)
    sandbox.configure(rate_limit={"mode": "flat", "calls_per_hour": 1})
    provider.test_connection()
    with pytest.raises(RateLimited) as info:
        list(provider.iter_address_books())
    assert info.value.status == 400
    assert info.value.code == "ERROR_APIUSAGE_EXCEEDED"
    assert info.value.retry_after == 300.0
    assert len(api_calls()) == 2


# ----------------------------------------------------------------------------------------------------------
# Server faults
# ----------------------------------------------------------------------------------------------------------


def test_5xx_on_get_is_retried(sandbox, make_provider, api_calls):
    provider = make_provider()
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "http_500", count=2)
    assert list(provider.iter_address_books())
    assert [entry["status"] for entry in api_calls()][1:] == [500, 500, 200]
    assert provider.stats.retries == 2
    assert provider.stats.calls == len(api_calls()) == 4


def test_5xx_beyond_retries_raises_server_error(sandbox, make_provider, api_calls):
    provider = make_provider()
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "http_500", count=5)
    with pytest.raises(ServerError) as info:
        list(provider.iter_address_books())
    assert info.value.status == 500
    assert info.value.is_retryable
    assert provider.stats.calls == len(api_calls()) == 1 + 3


def test_5xx_on_create_is_not_repeated(sandbox, make_provider, api_calls):
    provider = make_provider()
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "http_500", method="POST")
    with pytest.raises(ServerError):
        provider.create_address_book("Newsletter")
    assert [entry["method"] for entry in api_calls()] == ["GET", "POST"]


def test_html_error_page_is_reported_cleanly(sandbox, make_provider):
    provider = make_provider(max_retries=0)
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "html_502")
    with pytest.raises(ServerError) as info:
        list(provider.iter_address_books())
    assert info.value.status == 502
    assert "HTML page" in str(info.value)
    assert "<html>" not in str(info.value)
    assert info.value.excerpt.startswith("<html>")


def test_truncated_json_is_invalid_response(sandbox, make_provider):
    provider = make_provider()
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "truncated_json")
    with pytest.raises(InvalidResponse) as info:
        list(provider.iter_address_books())
    assert "cut off" in str(info.value)
    assert info.value.status == 200


def test_dropped_connection_is_retried_on_get(sandbox, make_provider):
    provider = make_provider()
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "drop_connection")
    assert list(provider.iter_address_books())
    assert provider.stats.retries == 1


def test_dropped_connection_beyond_retries(sandbox, make_provider):
    provider = make_provider()
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "drop_connection", count=3)
    with pytest.raises(EspConnectionError) as info:
        list(provider.iter_address_books())
    assert "127.0.0.1" in str(info.value)
    assert provider.stats.calls == 4


def test_dropped_connection_on_import_is_not_repeated(sandbox, make_provider, api_calls):
    import io

    provider = make_provider()
    book = provider.create_address_book("Import target")
    sandbox.inject_fault(f"{BOOKS}/*/contacts/import", "drop_connection", count=3)
    with pytest.raises(EspConnectionError):
        provider.start_import(book.id, io.BytesIO(b"Email\nann@example.com\n"))
    assert [entry["path"] for entry in api_calls()].count(f"{BOOKS}/{book.id}/contacts/import") == 1


def test_slow_answer_past_read_timeout(sandbox, make_provider):
    provider = make_provider(timeout=(2.0, 0.3), max_retries=0)
    provider.test_connection()
    sandbox.inject_fault(BOOKS, "slow", seconds=1)
    with pytest.raises(EspConnectionError) as info:
        list(provider.iter_address_books())
    assert "read timeout" in str(info.value)
    assert "0.3" in str(info.value)


# ----------------------------------------------------------------------------------------------------------
# Accounting and secrecy
# ----------------------------------------------------------------------------------------------------------


def test_call_counter_matches_the_sandbox_log(sandbox, make_provider, api_calls):
    statuses = []
    provider = make_provider(on_call=lambda status, throttled: statuses.append(status))
    sandbox.inject_fault(BOOKS, "http_500")
    sandbox.inject_fault("/v2/data-fields", "rate_limited", reset=0)
    provider.test_connection()
    list(provider.iter_address_books())
    list(provider.iter_data_fields())
    list(provider.iter_templates())
    logged = api_calls()
    assert provider.stats.calls == len(logged) == len(statuses) == 6
    assert statuses == [entry["status"] for entry in logged]


def test_credentials_never_logged_nor_in_errors(sandbox, make_provider, debug_log):
    secret = "Sup3r-Secret-Pw"
    token = base64.b64encode(f"{sandbox.api_user}:{secret}".encode()).decode()
    real_token = base64.b64encode(f"{sandbox.api_user}:{sandbox.api_password}".encode()).decode()
    errors = []
    bad = make_provider(password=secret)
    with pytest.raises(AuthenticationError) as info:
        bad.test_connection()
    errors.append(info.value)
    good = make_provider()
    sandbox.inject_fault(BOOKS, "http_500", count=5)
    with pytest.raises(ServerError) as info:
        list(good.iter_address_books())
    errors.append(info.value)
    sandbox.inject_fault(BOOKS, "rate_limited", reset=0)
    list(good.iter_address_books())
    texts = [record.getMessage() for record in debug_log.records] + [debug_log.text]
    texts += [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [repr(bad), repr(good), repr(good.transport), repr(good.stats)]
    assert debug_log.records, "nothing was logged: the test proves nothing"
    for text in texts:
        for forbidden in (secret, token, sandbox.api_password, real_token):
            assert forbidden not in text


# -- the account's rate budget ---------------------------------------------------------------------------------


def test_spent_budget_refuses_the_call_before_it_reaches_the_esp(make_provider, sandbox):
    from esp_providers import LocalRateBudget

    budget = LocalRateBudget(published=(3, 60))
    provider = make_provider(rate_budget=budget, max_wait=0.0)
    with pytest.raises(RateLimited) as refused:
        for _call in range(10):
            provider.server_time()
    assert 55 <= refused.value.retry_after <= 60
    assert len(sandbox.requests_log()) == 3  # the refused call never reached the ESP


def test_short_refill_is_waited_for_in_line(make_provider):
    from esp_providers import LocalRateBudget

    now = [0.0]
    budget = LocalRateBudget(published=(1, 1), clock=lambda: now[0])
    provider = make_provider(rate_budget=budget, max_wait=2.0)
    provider.transport._wait = lambda method, path, seconds, reason: now.__setitem__(0, now[0] + seconds)
    provider.server_time()
    provider.server_time()  # waited one second (on the budget's clock), then went through
    assert now[0] >= 1.0


def test_tiered_headers_set_each_scope_budget(make_provider, sandbox):
    from esp_providers import LocalRateBudget

    sandbox.configure(rate_limit={"mode": "tiered", "tiers": {"low": 5, "medium": 7, "high": 9}})
    budget = LocalRateBudget(published=(2000, 3600))
    provider = make_provider(rate_budget=budget)
    provider.server_time()
    list(provider.iter_address_books())
    assert budget.scopes["high"][0] == 9 and budget.scopes["high"][1] < 9
    assert budget.scopes["medium"][:2] == [7, 6]
    assert budget.scopes["account"][0] == 2000  # the published figure, for scopes the ESP did not describe
