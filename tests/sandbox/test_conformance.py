"""Conformance with dotdigital's OpenAPI file: routes, status codes, response shapes and refused requests.

Every answer of the scenario is validated with jsonschema against the spec's own response schema (after
resolving ``$ref``s in its components); the last tests prove that every route the sandbox serves is in the
spec and was checked, and that requests the spec forbids are refused.
"""

import json

import pytest
from openapi_spec import find_operation, response_schema, schema_errors, spec, spec_path_of

from esp_sandbox import create_app
from esp_sandbox.validation import SCHEMAS

HTML = '<a href="https://example.com/a">A</a> <a href="https://example.com/b">B</a> <a href="http://$UNSUB$">U</a>'
CAMPAIGN = {"name": "Conformance", "subject": "Hello", "fromName": "Shop", "htmlContent": HTML,
            "plainTextContent": "Hello http://$UNSUB$"}
TEMPLATE = {"name": "T", "subject": "S", "fromName": "F", "htmlContent": "<p>x</p>", "plainTextContent": "x"}
SINCE = "2000-01-01T00:00:00Z"
SPLIT_TEST = {"name": "Split", "subjects": ["A", "B"], "fromNames": ["Shop", "Shop"], "fromAddresses": [{"id": 1}] * 2,
              "htmlContents": [HTML, HTML], "plainTextContents": ["A http://$UNSUB$", "B http://$UNSUB$"]}


def _path_params_fit(spec_path, concrete):
    """Whether integer path parameters of ``spec_path`` hold digits in ``concrete`` (``{id}`` vs ``{email}``)."""
    item = spec()["paths"][spec_path]
    params = {p["name"]: p for op in item.values() for p in op.get("parameters", []) if p.get("in") == "path"}
    for template, value in zip(spec_path.strip("/").split("/"), concrete.strip("/").split("/"), strict=False):
        if template.startswith("{"):
            schema = params[template[1:-1]].get("schema", {})
            if schema.get("type") == "integer" and not value.isdigit():
                return False
    return True


class Checker:
    """Calls the sandbox and checks each answer against the spec operation it is an instance of."""

    def __init__(self, api):
        self.api = api
        self.checked = set()

    def __call__(self, method, path, expect=200, **kwargs):
        response = self.api.request(method, self.api.v2(path), **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        concrete = "/v2/" + path.split("?")[0]
        entries = [(p, op) for p, op in find_operation(method, concrete) or [] if _path_params_fit(p, concrete)]
        assert entries, f"{method} {concrete} is not an operation of the spec"
        spec_path, operation = entries[0]
        assert str(expect) in operation["responses"], f"{method} {spec_path} never answers {expect} in the spec"
        schema = response_schema(operation, expect)
        if schema is not None:
            problems = schema_errors(response.json(), schema)
            assert not problems, f"{method} {spec_path}: {problems}"
        self.checked.add((method, spec_path_of(spec_path)))
        return response


@pytest.fixture
def check(api, sandbox):
    return Checker(api)


def run_account_scenario(check):
    check("GET", "account-info")
    check("GET", "server-time")
    check("GET", "custom-from-addresses?select=10&skip=0")
    check("GET", "data-fields")
    check("POST", "data-fields", 201, json={"name": "LOYALTY", "type": "Numeric", "visibility": "Public",
                                             "defaultValue": 0})
    check("DELETE", "data-fields/LOYALTY")
    check("GET", "templates")
    template_id = check("POST", "templates", 201, json=TEMPLATE).json()["id"]
    check("GET", f"templates/{template_id}")
    check("PUT", f"templates/{template_id}", json={**TEMPLATE, "name": "T2"})


def run_books_scenario(check):
    book_id = check("POST", "address-books", 201, json={"name": "Conformance", "visibility": "Public"}).json()["id"]
    check("GET", "address-books?select=100&skip=0")
    check("GET", "address-books/private")
    check("GET", "address-books/public")
    check("GET", f"address-books/{book_id}")
    check("PUT", f"address-books/{book_id}", json={"name": "Conformance 2", "visibility": "Private"})
    contact = check("POST", f"address-books/{book_id}/contacts", json={"email": "book@example.com"}).json()
    check("GET", f"contacts/{contact['id']}/address-books")
    check("DELETE", f"address-books/{book_id}/contacts/{contact['id']}", 204)
    check("DELETE", f"address-books/{book_id}/contacts", 204)
    deletion = check("POST", f"address-books/{book_id}/contacts/delete", 202, json=[contact["id"]]).json()
    check("GET", f"contacts/deletion/{deletion['id']}")
    check("POST", f"address-books/{book_id}/contacts/delete-all", 202)
    check("DELETE", f"address-books/{book_id}")


def _import(check, path):
    csv = "Email,FIRSTNAME\nimp1@example.com,Ann\nimp2@example.com,Bob\nnot-an-email,X\n"
    import_id = check("POST", path, 202, json={"fileName": "c.csv", "data": _b64(csv)}).json()["id"]
    check("GET", f"contacts/import/{import_id}")
    check("GET", f"contacts/import/{import_id}/report")
    check("GET", f"contacts/import/{import_id}/report-faults")


def _b64(text):
    import base64

    return base64.b64encode(text.encode()).decode()


def run_contacts_scenario(check):
    book_id = check("POST", "address-books", 201, json={"name": "Contacts"}).json()["id"]
    _import(check, f"address-books/{book_id}/contacts/import")
    _import(check, f"address-books/{book_id}/contacts/import/with-merge-option/OnlyOverwriteIfNotEmpty")
    _import(check, "contacts/import")
    _import(check, "contacts/import/with-merge-option/Overwrite")
    created = check("POST", "contacts", 201, json={"email": "one@example.com", "optInType": "Single",
                                                    "dataFields": [{"key": "FIRSTNAME", "value": "One"}]}).json()
    check("GET", "contacts?withFullData=true&select=5")
    check("GET", "contacts/count")
    check("GET", f"contacts/{created['id']}")
    check("GET", "contacts/ONE@example.com")
    batch = check("GET", "contacts/retrieve-collection", json={
        "contacts": [{"email": "ONE@example.com"}, {"email": "nobody@example.com"}], "withFullData": True}).json()
    assert [row["email"] for row in batch["contacts"]] == ["one@example.com"]
    assert [row["email"] for row in batch["notFound"]] == ["nobody@example.com"]
    check("PUT", f"contacts/{created['id']}", json={"email": "one@example.com", "emailType": "PlainText"})
    check("GET", f"contacts/modified-since/{SINCE}?withFullData=true")
    check("GET", f"contacts/created-since/{SINCE}")
    check("GET", f"address-books/{book_id}/contacts?withFullData=true")
    check("GET", f"address-books/{book_id}/contacts/modified-since/{SINCE}")
    check("POST", f"address-books/{book_id}/contacts/unsubscribe", json={"email": "imp1@example.com"})
    check("GET", f"address-books/{book_id}/contacts/unsubscribed-since/{SINCE}")
    check("POST", "contacts/unsubscribe", json={"email": "imp2@example.com"})
    check("GET", f"contacts/unsubscribed-since/{SINCE}")
    check("GET", f"contacts/suppressed-since/{SINCE}")
    resubscription = {"unsubscribedContact": {"email": "imp2@example.com"}}
    assert check("POST", "contacts/resubscribe", json=resubscription).json()["status"] == "ContactChallenged"
    check("POST", "contacts/resubscribe-with-no-challenge", json=resubscription)
    resubscription = {"unsubscribedContact": {"email": "imp1@example.com"}}
    check("POST", f"address-books/{book_id}/contacts/resubscribe", json=resubscription)
    check("POST", f"address-books/{book_id}/contacts/resubscribe-with-no-challenge", json=resubscription)
    check("DELETE", f"contacts/{created['id']}", 204)


def run_campaigns_scenario(check, sandbox):
    # Engagement high enough that every feed has rows whose item schema gets validated.
    sandbox.configure(engagement={"open": 1, "click": 1, "forward": 0.5, "hard_bounce": 0.1, "soft_bounce": 0.1,
                                  "unsubscribe": 0.2, "complaint": 0.1})
    book_id = check("POST", "address-books", 201, json={"name": "Campaign book"}).json()["id"]
    rows = "\n".join(f"c{i}@example.com" for i in range(30))
    check("POST", f"address-books/{book_id}/contacts/import", 202, json={"fileName": "c.csv", "data": _b64(f"Email\n{rows}\n")})
    campaign_id = check("POST", "campaigns", 201, json={**CAMPAIGN, "fromAddress": {"id": 1}}).json()["id"]
    check("GET", "campaigns?select=10")
    check("GET", f"campaigns/{campaign_id}")
    check("PUT", f"campaigns/{campaign_id}", json={**CAMPAIGN, "subject": "Hello again", "replyAction": "Webmail"})
    copy_id = check("POST", f"campaigns/{campaign_id}/copy", 201).json()["id"]
    check("DELETE", f"campaigns/{copy_id}", 204)
    send = check("POST", "campaigns/send", 202, json={"campaignId": campaign_id, "addressBookIds": [book_id]}).json()
    check("GET", f"campaigns/send/{send['id']}")
    split_id = check("POST", "campaigns/split-test", 201, json=SPLIT_TEST).json()["id"]
    check("GET", f"campaigns/{split_id}/split-test")
    options = {"testMetric": "Clicks", "testPercentage": 50, "testPeriodHours": 1}
    check("POST", "campaigns/send", 202, json={"campaignId": split_id, "addressBookIds": [book_id],
                                               "splitTestOptions": options})
    sandbox.advance_clock(7200)
    assert any(version["winningVersion"] for version in check("GET", f"campaigns/{split_id}/split-test").json()[
        "versions"])
    check("GET", f"campaigns/with-activity-since/{SINCE}")
    check("GET", f"campaigns/{campaign_id}/address-books")
    check("GET", f"address-books/{book_id}/campaigns")
    check("GET", f"campaigns/{campaign_id}/summary")
    activities = check("GET", f"campaigns/{campaign_id}/activities").json()
    assert activities
    check("GET", f"campaigns/{campaign_id}/activities/since-date/{SINCE}")
    clicker = next(a["contactId"] for a in activities if a["numClicks"])
    check("GET", f"campaigns/{campaign_id}/activities/{clicker}")
    assert check("GET", f"campaigns/{campaign_id}/activities/{clicker}/clicks").json()
    assert check("GET", f"campaigns/{campaign_id}/activities/{clicker}/opens").json()
    check("GET", f"campaigns/{campaign_id}/clicks")
    check("GET", f"campaigns/{campaign_id}/clicks/since-date/{SINCE}")
    check("GET", f"campaigns/{campaign_id}/opens")
    check("GET", f"campaigns/{campaign_id}/opens/since-date/{SINCE}")
    assert check("GET", f"campaigns/{campaign_id}/hard-bouncing-contacts?withFullData=true").json()
    check("GET", "campaigns/with-details?select=10")
    check("GET", f"campaigns/{campaign_id}/with-details")
    assert check("GET", "campaigns/filtered?~type=Standard&~statuses=Sent&~statuses=Unsent").json()
    assert check("GET", f"campaigns/metrics?startDate={SINCE}&endDate=2100-01-01T00:00:00Z").json()
    viewer = check("GET", f"campaigns/{campaign_id}/page-views/since-date/{SINCE}").json()[0]["contactId"]
    assert check("GET", f"campaigns/{campaign_id}/activities/{viewer}/page-views").json()
    assert check("GET", f"campaigns/{campaign_id}/clicks-with-groups").json()
    check("GET", f"campaigns/{campaign_id}/clicks-with-groups/since-date/{SINCE}")
    assert check("GET", f"campaigns/{campaign_id}/activities/{clicker}/clicks-with-groups").json()
    check("GET", f"campaigns/{campaign_id}/activities/{clicker}/replies?select=5")
    check("GET", f"campaigns/{campaign_id}/roi-details/since-date/{SINCE}")
    check("GET", f"campaigns/{campaign_id}/activities/{clicker}/roi-details")
    check("GET", f"campaigns/{campaign_id}/social-bookmark-views")
    check("GET", f"campaigns/{campaign_id}/activities/{clicker}/social-bookmark-views")
    check("GET", f"campaigns/{campaign_id}/revenue/since-date/{SINCE}")
    check("GET", f"campaigns/{campaign_id}/activities/{clicker}/revenue")


def test_account_answers_match_the_spec(check):
    run_account_scenario(check)


def test_address_book_answers_match_the_spec(check):
    run_books_scenario(check)


def test_contact_answers_match_the_spec(check):
    run_contacts_scenario(check)


def test_campaign_answers_match_the_spec(check, sandbox):
    run_campaigns_scenario(check, sandbox)


def sandbox_routes():
    app = create_app()
    try:
        return {
            (method, spec_path_of(rule.rule))
            for rule in app.url_map.iter_rules() if rule.rule.startswith("/v2/")
            for method in rule.methods - {"HEAD", "OPTIONS"}
        }
    finally:
        app.store.close()


def test_every_route_is_a_spec_operation():
    spec_operations = {
        (method.upper(), spec_path_of(path)) for path, item in spec()["paths"].items() for method in item
    }
    assert sandbox_routes() - spec_operations == set()


def test_every_route_is_checked(check, sandbox):
    run_account_scenario(check)
    run_books_scenario(check)
    run_contacts_scenario(check)
    run_campaigns_scenario(check, sandbox)
    assert sandbox_routes() - check.checked == set()


def test_vendored_request_schemas_equal_the_spec():
    """The sandbox validates request bodies with a copy of the spec's schemas; it must not drift."""
    assert SCHEMAS == {name: spec()["components"]["schemas"][name] for name in SCHEMAS}


# -- requests the spec forbids ------------------------------------------------------------------------------


def paged_operations():
    """Covered GET operations that take ``select``, as concrete paths with ids filled in."""
    for method, shape in sorted(sandbox_routes()):
        operations = find_operation(method, shape.replace("{}", "1"))
        if method == "GET" and any(p["name"] == "select" for _, op in operations for p in op.get("parameters", [])):
            yield shape


@pytest.mark.parametrize("shape", list(paged_operations()))
def test_select_above_1000_is_refused(api, build, shape):
    build.book("Paged")  # id 3, for the routes that need an existing book
    path = shape.replace("{}", "3", 1).replace("{}", SINCE if "since" in shape else "3")
    response = api.get(api.v2(path.removeprefix("/v2/")), params={"select": 1001})
    assert response.status_code == 400, (shape, response.text)
    assert "ERROR_PARAMETER_INVALID" in response.json()["message"]
    assert api.get(api.v2(path.removeprefix("/v2/")), params={"select": "many"}).status_code == 400


def _wrong_value(schema):
    while "$ref" in schema:
        schema = spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "enum" in schema:
        return "NotAValueOfThisEnum"
    # Values Json.NET cannot convert: it binds 12345 to a string property and "12" to an integer one, as the
    # real service does (see esp_sandbox/README.md, "Leniency"), but no object to a string.
    return {"string": {"not": "a string"}, "integer": "twelve", "number": "twelve", "boolean": "maybe",
            "array": "x", "object": "x"}.get(schema.get("type"))


def body_mutations(schema_name, valid):
    """(label, body) pairs the spec forbids: each required property missing, each typed property mistyped."""
    schema = SCHEMAS[schema_name]
    for part in schema.get("allOf", [schema]):
        part = SCHEMAS[part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
        for name in part.get("required", []):
            yield f"missing {name}", {k: v for k, v in valid.items() if k != name}
        for name, sub in part.get("properties", {}).items():
            wrong = _wrong_value(sub)
            if wrong is not None and not sub.get("readOnly"):
                yield f"{name} mistyped", {**valid, name: wrong}


BODIES = [
    ("POST", "address-books", "ApiAddressBook", {"name": "Valid", "visibility": "Private"}),
    ("PUT", "address-books/{book}", "ApiAddressBook", {"name": "Valid", "visibility": "Private"}),
    ("POST", "contacts", "ApiContact", {"email": "valid@example.com", "optInType": "Single", "emailType": "Html"}),
    ("POST", "address-books/{book}/contacts", "ApiContact", {"email": "valid@example.com"}),
    ("POST", "contacts/unsubscribe", "ApiContact", {"email": "valid@example.com"}),
    ("POST", "contacts/resubscribe", "ApiContactResubscription", {"unsubscribedContact": {"email": "v@example.com"}}),
    ("POST", "data-fields", "ApiDataField", {"name": "VALID", "type": "String", "visibility": "Private"}),
    ("POST", "templates", "ApiTemplate", TEMPLATE),
    ("POST", "campaigns", "ApiCampaignWithType", CAMPAIGN),
    ("PUT", "campaigns/{campaign}", "ApiCampaign", CAMPAIGN),
    ("POST", "campaigns/send", "ApiCampaignSend", {"campaignId": 1, "addressBookIds": [], "contactIds": []}),
    ("POST", "campaigns/split-test", "ApiSplitTestCampaign", SPLIT_TEST),
]


@pytest.mark.parametrize(("method", "path", "schema_name", "valid"), BODIES, ids=[f"{m} {p}" for m, p, *_ in BODIES])
def test_bodies_the_spec_forbids_are_refused(api, build, method, path, schema_name, valid):
    path = path.format(book=build.book("Target"), campaign=build.campaign())
    mutations = list(body_mutations(schema_name, valid))
    assert mutations
    for label, body in mutations:
        response = api.request(method, api.v2(path), json=body)
        assert response.status_code == 400, (label, response.status_code, response.text)
        assert "ERROR_" in response.json()["message"], label
    response = api.request(method, api.v2(path), data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert json.loads(response.text)["message"].endswith("ERROR_MALFORMED_REQUEST")
