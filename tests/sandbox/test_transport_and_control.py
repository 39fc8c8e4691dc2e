"""Auth, error shapes, rate limits, planned faults and the /sandbox/ control surface, over real HTTP."""

import json
import subprocess
import sys
import time

import pytest
import requests

from esp_sandbox.testing import SandboxError, SandboxServer


def test_wrong_password_is_denied(sandbox):
    response = requests.get(f"{sandbox.url}/v2/account-info", auth=(sandbox.api_user, "wrong"))
    assert response.status_code == 401
    assert response.json() == {"message": "Authorization has been denied for this request."}
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{sandbox.url}/v2/account-info").status_code == 401


def test_two_api_users_of_one_account(sandbox):
    """dotdigital gives an account several API users: both see the same account id and the same books."""
    first = requests.get(f"{sandbox.url}/v2/account-info", auth=(sandbox.api_user, sandbox.api_password))
    second = requests.get(f"{sandbox.url}/v2/account-info", auth=("second@apiconnector.com", "second-password"))
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    users = {second.json()["properties"][i]["value"] for i in range(len(second.json()["properties"]))}
    assert "second@apiconnector.com" in users
    books = requests.get(f"{sandbox.url}/v2/address-books", auth=("second@apiconnector.com", "second-password"))
    assert books.json() == requests.get(f"{sandbox.url}/v2/address-books",
                                        auth=(sandbox.api_user, sandbox.api_password)).json()
    assert "second@apiconnector.com" in sandbox.config()["extra_api_users"]
    assert "second-password" not in json.dumps(sandbox.config())
    sandbox.configure(extra_api_users={"third@apiconnector.com": "third-password"})
    assert requests.get(f"{sandbox.url}/v2/account-info", auth=("second@apiconnector.com", "second-password")
                        ).status_code == 401
    assert requests.get(f"{sandbox.url}/v2/account-info", auth=("third@apiconnector.com", "third-password")
                        ).status_code == 200
    sandbox.reset()
    assert sandbox.config()["extra_api_users"] == ["second@apiconnector.com"]


def test_unknown_route_and_method_answer_json(api):
    missing = api.get(api.v2("no-such-thing"))
    assert missing.status_code == 404 and "No HTTP resource was found" in missing.json()["message"]
    wrong_method = api.patch(api.v2("address-books"))
    assert wrong_method.status_code == 405 and "message" in wrong_method.json()


def test_server_time_follows_the_sandbox_clock(api, sandbox):
    before = sandbox.now()["epoch"]
    sandbox.advance_clock(86400)
    assert sandbox.now()["epoch"] - before >= 86400
    assert api.get(api.v2("server-time")).json().startswith(time.strftime("%Y", time.gmtime(before + 86400)))
    with pytest.raises(SandboxError) as refused:
        sandbox.advance_clock(-1)
    assert refused.value.status == 400


def test_flat_rate_limit(api, sandbox):
    sandbox.configure(rate_limit={"mode": "flat", "calls_per_hour": 3})
    assert [api.get(api.v2("server-time")).status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get(api.v2("server-time"))
    assert refused.status_code == 400 and refused.json()["message"].endswith("ERROR_APIUSAGE_EXCEEDED")
    sandbox.advance_clock(3601)
    assert api.get(api.v2("server-time")).status_code == 200


def test_tiered_rate_limit(api, sandbox):
    # Start at the beginning of a one-minute window, so the calls cannot straddle two windows.
    sandbox.advance_clock(60 - sandbox.now()["epoch"] % 60 + 1)
    sandbox.configure(rate_limit={"mode": "tiered", "tiers": {"high": 2, "medium": 1}})
    first = api.get(api.v2("server-time"))
    assert first.headers["X-RateLimit-Remaining"] == "1" and first.headers["X-RateLimit-Scope"] == "high"
    api.get(api.v2("server-time"))
    refused = api.get(api.v2("server-time"))
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "2" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["X-RateLimit-Reset"]) <= 60
    assert api.get(api.v2("address-books")).status_code == 200  # medium tier counts apart
    sandbox.advance_clock(61)
    assert api.get(api.v2("server-time")).status_code == 200


def test_rate_limit_is_off_by_default(api, sandbox):
    assert sandbox.config()["rate_limit"]["mode"] == "off"
    assert all(api.get(api.v2("server-time")).status_code == 200 for _ in range(50))


def test_fault_http_500_for_next_calls_only(api, sandbox):
    sandbox.inject_fault("/v2/account-info", "http_500", count=2)
    statuses = [api.get(api.v2("account-info")).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_fault_matches_method_and_pattern(api, build, sandbox):
    book_id = build.book()
    sandbox.inject_fault("/v2/address-books/*/contacts", "http_500", method="POST")
    assert api.get(api.v2(f"address-books/{book_id}/contacts")).status_code == 200
    assert api.post(api.v2(f"address-books/{book_id}/contacts"), json={"email": "a@example.com"}).status_code == 500
    assert api.post(api.v2(f"address-books/{book_id}/contacts"), json={"email": "a@example.com"}).status_code == 200


def test_fault_html_502(api, sandbox):
    sandbox.inject_fault("/v2/address-books", "html_502")
    response = api.get(api.v2("address-books"))
    assert response.status_code == 502 and response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_fault_truncated_json(api, sandbox):
    sandbox.inject_fault("/v2/data-fields", "truncated_json")
    response = api.get(api.v2("data-fields"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert api.get(api.v2("data-fields")).json()


def test_fault_rate_limited(api, sandbox):
    sandbox.inject_fault("/v2/contacts/import/*", "rate_limited", limit=10, reset=30, scope="low")
    response = api.get(api.v2("contacts/import/abc"))
    assert response.status_code == 429
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Reset"],
            response.headers["X-RateLimit-Scope"]) == ("10", "30", "low")


def test_fault_slow_answer(api, sandbox):
    sandbox.inject_fault("/v2/server-time", "slow", seconds=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get(api.v2("server-time"), timeout=0.2)
    start = time.monotonic()
    sandbox.inject_fault("/v2/server-time", "slow", seconds=0.3)
    assert api.get(api.v2("server-time"), timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_fault_dropped_connection(api, sandbox):
    sandbox.inject_fault("/v2/account-info", "drop_connection")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(api.v2("account-info"))
    assert api.get(api.v2("account-info")).status_code == 200
    assert [entry["status"] for entry in sandbox.requests_log()] == [0, 200]


def test_unknown_fault_kind_is_refused(sandbox):
    with pytest.raises(SandboxError):
        sandbox.inject_fault("/v2/account-info", "meteor_strike")
    with pytest.raises(SandboxError):
        sandbox.inject_import_fault("Exploded")
    with pytest.raises(SandboxError):
        sandbox.configure(engagement={"telepathy": 1})


def test_request_log_counts_api_calls(api, sandbox):
    api.get(api.v2("address-books"), params={"select": 5})
    api.get(api.v2("nowhere"))
    log = sandbox.requests_log()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/v2/address-books", "select=5", 200),
        ("GET", "/v2/nowhere", "", 404),
    ]
    sandbox.clear_log()
    assert sandbox.requests_log() == []


def test_state_and_contact_status_control(api, build, sandbox):
    book_id = build.book()
    build.contacts(book_id, 2)
    sandbox.set_contact_status("USER0@example.com", "Unsubscribed", book_id=book_id)
    sandbox.set_contact_status("user1@example.com", "HardBounced")
    book = next(b for b in sandbox.state()["books"] if b["id"] == book_id)
    assert [(c["email"], c["status"], c["book_status"]) for c in book["contacts"]] == [
        ("user0@example.com", "Subscribed", "Unsubscribed"),
        ("user1@example.com", "HardBounced", "HardBounced"),
    ]
    with pytest.raises(SandboxError) as missing:
        sandbox.set_contact_status("nobody@example.com", "Unsubscribed")
    assert missing.value.status == 404
    with pytest.raises(SandboxError):
        sandbox.set_contact_status("user1@example.com", "Grumpy")


def test_reset_restores_a_fresh_account(api, build, sandbox):
    build.book()
    sandbox.configure(import_delay=30, rate_limit={"mode": "flat"})
    sandbox.inject_fault("/v2/account-info", "http_500")
    sandbox.reset()
    state = sandbox.state()
    assert [b["name"] for b in state["books"]] == ["All Contacts", "Test"]
    assert state["faults"] == {"faults": [], "import_faults": []}
    assert sandbox.config()["import_delay"] == 0 and sandbox.config()["rate_limit"]["mode"] == "off"
    assert api.get(api.v2("account-info")).status_code == 200


def test_state_dir_keeps_data_across_restarts(tmp_path):
    with SandboxServer(state_dir=str(tmp_path)) as first:
        session = requests.Session()
        session.auth = (first.api_user, first.api_password)
        session.post(f"{first.url}/v2/address-books", json={"name": "Kept"})
        session.post(f"{first.url}/v2/contacts", json={"email": "kept@example.com"})
        first.advance_clock(3600)
        offset = first.now()["offset"]
    assert (tmp_path / "sandbox.sqlite3").exists()
    with SandboxServer(state_dir=str(tmp_path)) as second:
        session.auth = (second.api_user, second.api_password)
        assert "Kept" in [b["name"] for b in session.get(f"{second.url}/v2/address-books").json()]
        assert session.get(f"{second.url}/v2/contacts/kept@example.com").status_code == 200
        assert second.now()["offset"] == pytest.approx(offset)


def test_custom_credentials(tmp_path):
    with SandboxServer(api_user="apiuser-1@apiconnector.com", api_password="s3cret") as server:
        assert requests.get(f"{server.url}/v2/account-info", auth=("apiuser-1@apiconnector.com", "s3cret")).ok
        assert requests.get(f"{server.url}/v2/account-info", auth=("demo@apiconnector.com", "demo-password")).status_code == 401


def test_command_line_help_documents_every_option():
    result = subprocess.run([sys.executable, "-m", "esp_sandbox", "--help"], capture_output=True, text=True, check=True)
    for option in ("--port", "--host", "--api-user", "--api-password", "--seed", "--state-dir"):
        assert option in result.stdout


def test_command_line_serves_and_prints_credentials():
    process = subprocess.Popen(
        [sys.executable, "-m", "esp_sandbox", "--port", "0", "--api-user", "cli@apiconnector.com", "--api-password", "pw"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        banner = [process.stdout.readline() for _ in range(3)]
        url = banner[0].split()[-1]
        assert "cli@apiconnector.com" in banner[1] and "pw" in banner[2]
        assert requests.get(f"{url}/v2/account-info", auth=("cli@apiconnector.com", "pw"), timeout=5).ok
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_reset_can_start_the_clock_in_the_past(api, sandbox):
    sandbox.reset(clock_offset=-3 * 86400)
    clock = sandbox.now()
    assert clock["offset"] == -3 * 86400
    assert abs(clock["epoch"] - (time.time() - 3 * 86400)) < 60
    sandbox.advance_clock(3 * 86400)
    assert abs(sandbox.now()["epoch"] - time.time()) < 60
    with pytest.raises(SandboxError) as refused:
        sandbox.reset(clock_offset="soon")
    assert refused.value.status == 400
    sandbox.reset()
    assert sandbox.now()["offset"] == 0


def test_home_page_is_html_for_a_person(sandbox):
    response = requests.get(f"{sandbox.url}/", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    for text in (sandbox.api_user, sandbox.api_password, "/sandbox/state", "/sandbox/clock",
                 "CampaignMasterService.svc?wsdl", "CampaignMasterJobService.svc?wsdl", "/sandbox/clock/advance"):
        assert text in response.text
    assert not [entry for entry in sandbox.requests_log() if entry["path"] == "/"]
    # The API itself is unchanged: the same path with another method is still an API call.
    assert requests.post(f"{sandbox.url}/", timeout=5).status_code == 401
