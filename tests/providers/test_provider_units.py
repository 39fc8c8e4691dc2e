"""Provider pieces that need no server: registry, URL rule, error table, validation, dates."""

import datetime
import io

import esp_providers
import pytest
from esp_providers import dotdigital, exceptions, transport
from esp_providers.base import CAPABILITY_GROUPS, Capability


def test_registry_selection_and_lazy_class():
    assert esp_providers.provider_selection() == [("dotdigital", "dotdigital"), ("campaign_master", "Campaign Master")]
    cls = esp_providers.get_provider_class("dotdigital")
    assert cls is dotdigital.DotdigitalProvider
    assert cls.code == "dotdigital"
    with pytest.raises(KeyError, match="Unknown ESP provider 'nope'"):
        esp_providers.get_provider_class("nope")


def test_dotdigital_capabilities():
    cls = esp_providers.get_provider_class("dotdigital")
    assert cls.supports(Capability.BULK_IMPORT)
    assert cls.supports(Capability.SCHEDULING)
    assert cls.supports(Capability.CAMPAIGN_CREATION)
    assert cls.supports(Capability.CONTACT_ACTIVITY)
    # v2 has no test-send call and no webhooks: the UI must hide both.
    assert not cls.supports(Capability.TEST_SEND)
    assert not cls.supports(Capability.WEBHOOKS)
    assert set(cls.capabilities) <= set(Capability.ALL)


def test_base_provider_names_operations():
    provider = esp_providers.EspProvider()
    with pytest.raises(NotImplementedError):
        provider.iter_address_books()
    with pytest.raises(NotImplementedError):
        provider.start_import(1, io.BytesIO(b""))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://r1-api.dotdigital.com", "https://r1-api.dotdigital.com"),
        ("https://r2-api.dotdigital.com/v2/", "https://r2-api.dotdigital.com"),
        ("http://127.0.0.1:8899", "http://127.0.0.1:8899"),
        ("http://127.10.20.30:1/", "http://127.10.20.30:1"),
        ("http://localhost:8899/v2", "http://localhost:8899"),
        ("http://[::1]:8899", "http://[::1]:8899"),
    ],
)
def test_base_url_accepted(url, expected):
    assert transport.check_base_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://r1-api.dotdigital.com", "http://10.0.0.5:8899", "http://128.0.0.1", "ftp://x", "", "https://"]
)
def test_base_url_refused(url):
    with pytest.raises(esp_providers.ConfigurationError) as info:
        transport.check_base_url(url)
    assert isinstance(info.value, ValueError)


def test_plain_http_to_public_host_refused_by_provider():
    with pytest.raises(esp_providers.ConfigurationError, match="plain http"):
        dotdigital.DotdigitalProvider("u", "p", "http://api.example.com")
    with pytest.raises(esp_providers.ConfigurationError, match="plain http"):
        dotdigital.DotdigitalProvider("u", "p", api_endpoint="http://r1-api.dotdigital.com")


def test_rate_limit_reset_seconds_or_epoch():
    assert transport.parse_rate_limit_reset("42") == 42
    assert transport.parse_rate_limit_reset("1700000060", now=1700000000) == 60
    assert transport.parse_rate_limit_reset("1700000000", now=1700000060) == 0
    assert transport.parse_rate_limit_reset(None) is None
    assert transport.parse_rate_limit_reset("soon") is None


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (401, '{"message": "Authorization has been denied for this request."}', exceptions.AuthenticationError, None),
        (403, '{"message": "Access is denied."}', exceptions.PermissionDenied, None),
        (404, '{"message": "Error: ERROR_ADDRESSBOOK_NOT_FOUND"}', exceptions.BookNotFound, "ERROR_ADDRESSBOOK_NOT_FOUND"),
        (404, '{"message": "Error: ERROR_CONTACT_NOT_FOUND"}', exceptions.NotFound, "ERROR_CONTACT_NOT_FOUND"),
        (409, '{"title": "Conflict", "status": 409}', exceptions.Conflict, None),
        (429, "", exceptions.RateLimited, None),
        (
            400,
            '{"message": "Too many calls ERROR_APIUSAGE_EXCEEDED"}',
            exceptions.RateLimited,
            "ERROR_APIUSAGE_EXCEEDED",
        ),
        (400, '{"message": "Field already exists. ERROR_NON_UNIQUE_DATAFIELD"}', exceptions.ValidationError, None),
        (502, "<html><body>Bad gateway</body></html>", exceptions.ServerError, None),
    ],
)
def test_error_table(status, body, cls, code):
    error = exceptions.error_for(status, body, provider="dotdigital")
    assert type(error) is cls
    assert error.status == status
    if code:
        assert error.code == code
    assert f"HTTP {status}" in str(error)


def test_error_carries_code_and_readable_message():
    error = exceptions.error_for(400, '{"message": "Field already exists. ERROR_NON_UNIQUE_DATAFIELD"}')
    assert error.code == "ERROR_NON_UNIQUE_DATAFIELD"
    assert "Field already exists" in error.message
    assert not error.is_retryable
    busy = exceptions.error_for(400, '{"message": "Error: ERROR_IMPORT_TOOMANYACTIVEIMPORTS"}')
    assert busy.is_retryable
    html = exceptions.error_for(502, "<!DOCTYPE html><html><h1>502 Bad Gateway</h1></html>", "text/html")
    assert "HTML page" in html.message
    assert html.is_retryable


@pytest.mark.parametrize(
    ("name", "kind", "visibility", "default"),
    [
        ("FIRST NAME", "String", "Private", None),
        ("A" * 21, "String", "Private", None),
        ("", "String", "Private", None),
        ("name.x", "String", "Private", None),
        ("OK", "Text", "Private", None),
        ("OK", "String", "Hidden", None),
        ("OK", "Numeric", "Private", "12"),
        ("OK", "Boolean", "Private", 1),
    ],
)
def test_data_field_validation_refuses(name, kind, visibility, default):
    with pytest.raises(esp_providers.ValidationError):
        dotdigital.validate_data_field(name, kind, visibility, default)


def test_data_field_validation_accepts():
    dotdigital.validate_data_field("A" * 20, "String", "Public", "x")
    dotdigital.validate_data_field("Loyalty_Points-2", "Numeric", "Private", 1.5)
    dotdigital.validate_data_field("BIRTHDAY", "Date", "Private", datetime.date(2000, 1, 1))
    dotdigital.validate_data_field("VIP", "Boolean", "Private", False)


def test_dates_in_paths_and_answers():
    naive = datetime.datetime(2024, 5, 1, 10, 0, 0)
    paris = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert dotdigital._format_date(naive) == "2024-05-01T10:00:00Z"
    assert dotdigital._format_date(paris) == "2024-05-01T10:00:00Z"
    assert dotdigital._format_date(datetime.date(2024, 5, 1)) == "2024-05-01T00:00:00Z"
    parsed = dotdigital._parse_datetime("2024-05-01T10:00:00.1234567Z")
    assert parsed == datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert dotdigital._parse_datetime("2024-05-01T10:00:00") == naive.replace(tzinfo=datetime.timezone.utc)
    assert dotdigital._parse_datetime("garbage") is None


def test_secrets_absent_from_reprs():
    provider = dotdigital.DotdigitalProvider("apiuser-1@apiconnector.com", "S3cret-pw!")
    for text in (repr(provider), repr(provider.transport), repr(provider.transport._session.auth)):
        assert "S3cret-pw!" not in text
    error = exceptions.RateLimited("slow down", status=429, retry_after=3)
    assert repr(error) == "RateLimited(message='slow down', status=429, code=None, retry_after=3)"


def test_import_size_is_bounded():
    provider = dotdigital.DotdigitalProvider("u", "p", "http://127.0.0.1:9", max_import_bytes=10)
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        provider.start_import(1, io.BytesIO(b"Email\nsomeone@example.com\n"))
    assert provider.stats.calls == 0


def test_capability_groups_and_limits_are_declared_by_the_provider():
    provider = esp_providers.get_provider_class("dotdigital")
    assert provider.supports_group("lists") and provider.supports_group("campaigns")
    assert set(CAPABILITY_GROUPS) >= {"lists", "campaigns", "reports"}
    assert provider.limits.imports_in_flight == 25
    assert provider.limits.rows_per_import <= 50000


def test_personalization_tags_belong_to_the_provider():
    """dotdigital writes a contact's value as @DATAFIELD@; Campaign Master's syntax is not in the evidence, so it
    has none and the engine refuses placeholders for it."""
    provider = esp_providers.get_provider_class("dotdigital")
    assert provider.personalization_tag("FIRSTNAME") == "@FIRSTNAME@"
    assert provider.personalization_tag("company") == "@COMPANY@"
    assert provider.personalization_tag(provider.personalization_email_field) == "@EMAIL@"
    assert provider.personalization_tag("not a name") is None
    campaign_master = esp_providers.get_provider_class("campaign_master")
    assert campaign_master.personalization_email_field is None
    assert campaign_master.personalization_tag("firstName") is None
