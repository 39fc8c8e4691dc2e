"""Campaign Master's SOAP services on the sandbox, called with zeep: WSDLs, login and tokens, recipients and
criteria, import jobs, campaigns, figures shared with the dotdigital API, and faults.

These tests drive the services with the extension on (``cm_extended``) and the member names as recorded
(``tokenString``), the casing the rest of this module writes; ``test_campaign_master_evidence.py`` checks the
services against the evidence in both casings."""

import base64
import datetime
import subprocess
import sys

import pytest
import requests
import zeep
from lxml import etree
from zeep.cache import InMemoryCache
from zeep.exceptions import Fault, TransportError
from zeep.helpers import serialize_object

from esp_sandbox.campaign_master import assumed, jobs, service

MAIN = service.PATH
JOBS = jobs.PATH
TNS = "http://campaignmaster.com.au"
RATES = {"hard_bounce": 0.05, "soft_bounce": 0.05, "open": 0.6, "click": 0.5, "forward": 0.1, "unsubscribe": 0.1,
         "complaint": 0.03}
HTML = ('<html><body><p>Hi</p><a href="https://example.com/offer">Offer</a> '
        '<a href="http://$UNSUB$">Unsubscribe</a></body></html>')
JOB = {"Delimiter": ",", "Filename": "people.csv", "PrimaryKey": "EmailAddress",
       "InsertSettings": {"AllowImport": True, "MakeActive": True, "MakeVerified": False},
       "UpdateSettings": {"AllowImport": True, "MakeActive": True, "MakeVerified": False},
       "UseFirstDuplicate": False}


class CampaignMaster:
    """zeep clients of both services plus a token, with short ways to put the account into a shape."""

    def __init__(self, sandbox, timeout=10):
        sandbox.configure(cm_member_case="as-recorded", cm_extended=True)
        InMemoryCache._cache.clear()
        transport = zeep.Transport(timeout=timeout, operation_timeout=timeout)
        self.sandbox = sandbox
        self.main = zeep.Client(f"{sandbox.url}{MAIN}?wsdl", transport=transport)
        self.jobs = zeep.Client(f"{sandbox.url}{JOBS}?wsdl", transport=transport)
        self.token = self.login()

    def advance(self, seconds):
        """Move the sandbox clock, then log in again: tokens last 20 minutes of that clock."""
        self.sandbox.advance_clock(seconds)
        self.token = self.login()

    def login(self, **overrides):
        credentials = {"clientID": 1000, "userName": self.sandbox.api_user, "password": self.sandbox.api_password}
        return self.main.service.Login(**{**credentials, **overrides}).tokenString

    def __getattr__(self, operation):
        """``cm.GetLists()``: the main service's operation with the token, answered as plain dicts and lists
        (zeep answers an empty array as None)."""
        method = getattr(self.main.service, operation)
        return lambda **params: serialize_object(method(token=self.token, **params), target_cls=dict)

    def recipients(self, *criteria, page=1):
        answer = self.GetRecipients(page=page, criteria={"cmCriterion": list(criteria)})
        return answer, [row for row in (answer["recipients"] or {}).get("cmRecipient") or ()]

    def all_recipients(self, *criteria):
        rows, page = [], 1
        while True:
            answer, found = self.recipients(*criteria, page=page)
            rows += found
            if answer["isLastPage"]:
                return rows
            page += 1

    def add(self, operation="InsertOrUpdate", key="EmailAddress", **recipient):
        # The booleans as the one real client sent them: always (a missing one reads as false).
        recipient = {"isActive": True, "isVerified": False, **recipient}
        return self.AddRecipient(recipientInfo=recipient, operationType=operation, primaryKeyName=key)

    def submit(self, csv_text, token=None, **definition):
        answer = self.jobs.service.SubmitImportJob(
            FileToImport=csv_text.encode(),
            _soapheaders={"SecurityToken": {"Value": token or self.token}, "JobDefinition": {**JOB, **definition}})
        return answer

    def new_list(self, name="Readers"):
        answer = self.CreateList(name=name)
        assert answer["callStatus"] == "Success", answer
        return answer["listId"]

    def imported(self, list_id, count, domain="example.com"):
        """``count`` recipients in a list through an import job, applied before returning."""
        rows = "".join(f"user{index}@{domain},First{index}\n" for index in range(count))
        self.submit(f"EmailAddress,FIRSTNAME\n{rows}", ListId=list_id)
        self.main.service.GetServerTime()  # the next call runs the due work, as with a v2 import
        return [f"user{index}@{domain}" for index in range(count)]

    def campaign(self, **members):
        body = {"name": "Spring sale", "description": "Spring offers", "subject": "Spring sale", "fromName": "Shop",
                "fromEmail": "news@sandbox.example.com", "htmlContent": HTML, "textContent": "Hi",
                "externalId": "odoo-1", **members}
        return self.CreateEmailCampaign(campaign=body)


def criterion(field, operator, operand, logical="And", order=1, left=1, right=1):
    return {"fieldName": field, "operator": operator, "operand": str(operand), "logicalOperator": logical,
            "order": order, "leftParentheses": left, "rightParentheses": right}


def fault_of(call, *args, **kwargs):
    """(faultcode, faultstring) of the Fault a call answers; the service's faults carry no detail."""
    with pytest.raises(Fault) as raised:
        call(*args, **kwargs)
    assert raised.value.detail is None
    return raised.value.code, raised.value.message


def raw_post(sandbox, body, path=MAIN, action=""):
    return requests.post(f"{sandbox.url}{path}", data=body,
                         headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action})


@pytest.fixture
def cm(sandbox):
    return CampaignMaster(sandbox)


# -- service descriptions ------------------------------------------------------------------------------------------


def test_wsdls_load_in_zeep_with_every_operation_of_the_contract(sandbox, cm):
    public = {operation.name for operation in service.OPERATIONS}
    assert len(public) == 22
    assumed_names = {operation.name for operation in assumed.OPERATIONS}
    assert assumed_names == {"GetLists", "CreateList", "GetTemplates", "GetGlobalAddresses", "CreateEmailCampaign",
                             "UpdateEmailCampaign", "GetEmailCampaign", "GetEmailCampaignByExternalId",
                             "SendTestEmailCampaign", "SendEmailCampaign"}
    binding = cm.main.service._binding
    assert set(binding._operations) == public | assumed_names
    assert binding._operations["GetRecipients"].soapaction == f"{TNS}/ICampaignMasterService/GetRecipients"
    # Parameters in the contract's order.
    assert [name for name, _element in binding._operations["GetEmailCampaignResults"].input.body.type.elements] \
        == ["token", "campaignId", "page", "resultsUpdatedAfter"]
    job = cm.jobs.service._binding._operations["SubmitImportJob"]
    assert job.soapaction == f"{TNS}/ICampaignMasterJobService/SubmitImportJob"
    assert [name for name, _element in job.input.header.type.elements] == ["JobDefinition", "SecurityToken"]
    assert [name for name, _element in job.input.body.type.elements] == ["FileToImport"]
    assert cm.main.service._binding._operations["Login"].soapaction == f"{TNS}/IAPIService/Login"
    for path in (MAIN, JOBS):
        single = requests.get(f"{sandbox.url}{path}?singleWsdl")
        assert single.status_code == 200 and single.headers["Content-Type"].startswith("text/xml")
        assert single.content == requests.get(f"{sandbox.url}{path}?wsdl").content
        address = etree.fromstring(single.content).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        assert address.get("location") == f"{sandbox.url}{path}"
    assert "?wsdl" in requests.get(f"{sandbox.url}{MAIN}").text  # WCF's help page


def test_every_assumed_member_is_served(cm):
    for type_name, members in assumed.FIELDS.items():
        client, ns = (cm.jobs, jobs.DC) if type_name == "JobDefinition" else (cm.main, TNS)
        names = [name for name, _element in client.get_type(f"{{{ns}}}{type_name}").elements]
        assert names[-len(members):] == [member.name for member in members], type_name


# -- login, tokens, clock ---------------------------------------------------------------------------------------------


def test_login_refusals(sandbox, cm):
    # As recorded: HTTP 500, faultcode s:InvalidLogin, "Invalid Login", no detail.
    for wrong in ({"password": "nope"}, {"userName": "someone@example.com"}, {"clientID": 1001}):
        assert fault_of(cm.login, **wrong) == ("s:InvalidLogin", "Invalid Login")
    answer = cm.main.service.Login(clientID=1000, userName=sandbox.api_user, password=sandbox.api_password)
    assert answer.minutesTillTokenExpires == 480 and answer.tokenString != cm.token
    # A second user of the same client (the sandbox's other API user) logs in to the same client ID.
    second = cm.main.service.Login(clientID=1000, userName="second@apiconnector.com", password="second-password")
    assert second.tokenString
    assert fault_of(cm.login, userName="second@apiconnector.com") == ("s:InvalidLogin", "Invalid Login")


def test_token_expires_on_the_sandbox_clock(sandbox, cm):
    sandbox.advance_clock(479 * 60)
    assert cm.GetLists() is None
    sandbox.advance_clock(61)
    assert fault_of(cm.GetLists)[0] == "s:InvalidToken"
    cm.token = cm.login()
    assert cm.GetLists() is None


def test_tokens_expired_by_the_control_route_and_by_reset(sandbox, cm):
    other = cm.login()
    assert sandbox.state()["campaign_master"]["live_tokens"] == 2
    assert sandbox.cm_expire_tokens() == {"expired": 2}
    assert fault_of(cm.GetLists)[0] == "s:InvalidToken"
    cm.token = other
    assert fault_of(cm.GetLists)[0] == "s:InvalidToken"
    cm.token = cm.login()
    sandbox.reset()
    sandbox.configure(cm_member_case="as-recorded", cm_extended=True)
    assert fault_of(cm.GetLists)[0] == "s:InvalidToken"


def test_server_time_follows_the_sandbox_clock(sandbox, cm):
    before = cm.main.service.GetServerTime().timestamp()
    sandbox.advance_clock(86400)
    after = cm.main.service.GetServerTime().timestamp()
    assert after - before == pytest.approx(86400, abs=5)
    assert after == pytest.approx(sandbox.now()["epoch"], abs=5)


# -- recipients -------------------------------------------------------------------------------------------------


def test_recipients_are_the_contacts_of_the_v2_api(api, cm):
    fields = cm.GetRecipientFields()
    # The system fields the evidence shows GetRecipientFields naming, then the account's own.
    assert [f["name"] for f in fields if f["isSystemField"]] == [
        "Id", "EmailAddress", "IsVerified", "IsActive", "ClientId", "LastModified", "LastModifiedBy",
        "EmailContentType", "CreatedBy", "CreatedFromIpAddress", "CreatedDateTime", "BounceType"]
    assert {f["name"] for f in fields if not f["isSystemField"]} == {
        "FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE", "LASTSUBSCRIBED"}
    api.post(api.v2("contacts"), json={"email": "Ann@Example.com", "dataFields": [
        {"key": "FIRSTNAME", "value": "Ann"}, {"key": "POSTCODE", "value": "2000"}]})
    _answer, [row] = cm.recipients(criterion("EmailAddress", "Equals", "ann@EXAMPLE.com"))
    values = {value["fieldName"]: value["value"] for value in row["values"]["cmRecipientValue"]}
    assert (row["emailAddress"], row["isActive"], row["emailContentType"]) == ("Ann@Example.com", True, "HTML")
    assert values["FIRSTNAME"] == "Ann" and values["POSTCODE"] == "2000" and values["LASTNAME"] is None
    assert cm.add(emailAddress="ann@example.com", values={"cmRecipientValue": [
        {"fieldName": "LASTNAME", "value": "Lee"}, {"fieldName": "postcode", "value": ""}]})["callStatus"] == "Success"
    contact = api.get(api.v2("contacts/ann@example.com")).json()
    data = {item["key"]: item["value"] for item in contact["dataFields"]}
    assert data["LASTNAME"] == "Lee" and data["FIRSTNAME"] == "Ann" and data["POSTCODE"] is None


def test_recipients_paging(cm):
    list_id = cm.new_list()
    cm.imported(list_id, 2500)
    pages = [cm.recipients(page=page)[0] for page in (1, 2, 3)]
    assert [(p["currentPage"], p["isLastPage"], len(p["recipients"]["cmRecipient"])) for p in pages] == [
        (1, False, 1000), (2, False, 1000), (3, True, 500)]
    assert len({row["id"] for row in cm.all_recipients()}) == 2500
    assert cm.recipients(page=4)[1] == []
    assert fault_of(cm.GetRecipients, page=0, criteria=None)[0] == "s:InvalidArgument"


def test_criteria(sandbox, cm):
    readers, buyers = cm.new_list("Readers"), cm.new_list("Buyers")
    cm.imported(readers, 5, "readers.example.com")
    cm.imported(buyers, 3, "buyers.example.com")
    sandbox.advance_clock(60)
    watermark = cm.main.service.GetServerTime().isoformat()
    sandbox.advance_clock(60)
    sandbox.set_contact_status("user1@readers.example.com", "Unsubscribed")
    assert cm.add(emailAddress="user2@buyers.example.com", values={"cmRecipientValue": [
        {"fieldName": "FIRSTNAME", "value": "Changed"}]})["callStatus"] == "Success"

    def emails(*criteria):
        return sorted(row["emailAddress"] for row in cm.all_recipients(*criteria))

    assert emails(criterion("lastModified", "GreaterThanEquals", watermark)) == [
        "user1@readers.example.com", "user2@buyers.example.com"]
    changed = cm.all_recipients(criterion("lastModified", "GreaterThanEquals", watermark),
                                criterion("isActive", "Equals", "false"))
    assert [(row["emailAddress"], row["isActive"]) for row in changed] == [("user1@readers.example.com", False)]
    assert emails(criterion("lastModified", "LessThan", watermark)) == sorted(
        set(emails()) - {"user1@readers.example.com", "user2@buyers.example.com"})
    assert len(emails(criterion("listId", "Equals", readers))) == 5
    assert emails(criterion("listId", "Equals", buyers), criterion("isActive", "Equals", "true")) == [
        f"user{index}@buyers.example.com" for index in range(3)]
    # Left to right with parentheses: buyers, or (readers and inactive) — then only ids up to the third reader.
    rows = cm.all_recipients(criterion("listId", "Equals", buyers, order=0, left=0, right=0),
                             criterion("listId", "Equals", readers, "Or", order=1, left=1, right=0),
                             criterion("isActive", "Equals", "false", "And", order=2, left=0, right=1))
    assert sorted(row["emailAddress"] for row in rows) == [
        "user0@buyers.example.com", "user1@buyers.example.com", "user1@readers.example.com",
        "user2@buyers.example.com"]
    # Without parentheses the same criteria fold left to right: (buyers or readers) and inactive.
    rows = cm.all_recipients(criterion("listId", "Equals", buyers, order=0, left=0, right=0),
                             criterion("listId", "Equals", readers, "Or", order=1, left=0, right=0),
                             criterion("isActive", "Equals", "false", "And", order=2, left=0, right=0))
    assert [row["emailAddress"] for row in rows] == ["user1@readers.example.com"]
    # Criteria are applied in their order, whatever order they come in.
    first = cm.all_recipients(criterion("id", "LessThanEquals", 2, order=2), criterion("listId", "Equals", readers))
    assert [row["id"] for row in first] == [1, 2]
    # Equals on a date an answer showed finds exactly the recipients shown with that date (to the millisecond).
    everyone = cm.all_recipients()
    moment = everyone[0]["createDateTime"]
    same = cm.all_recipients(criterion("CreatedDateTime", "Equals", moment.isoformat()))
    assert [row["id"] for row in same] == [row["id"] for row in everyone if row["createDateTime"] == moment]
    assert same and len(cm.all_recipients(criterion("CreatedDateTime", "NotEqual", moment.isoformat()))) == \
        len(everyone) - len(same)
    assert [row["listIds"]["int"] for row in changed] == [[readers]]
    for wrong in ([criterion("shoeSize", "Equals", 42)], [criterion("listId", "GreaterThan", readers)],
                  [criterion("isActive", "Equals", "maybe")], [criterion("id", "Equals", 1, left=2)],
                  [criterion("lastModified", "Equals", "yesterday")]):
        assert fault_of(cm.GetRecipients, page=1, criteria={"cmCriterion": wrong})[0] == "s:InvalidArgument"


def test_add_recipient_operation_types(api, cm):
    list_id = cm.new_list()
    assert cm.add("Insert", emailAddress="bo@example.com", listIds={"int": [list_id]})["callStatus"] == "Success"
    assert cm.add("Insert", emailAddress="BO@example.com") == {
        "returnValue": None, "callStatus": "Failure", "errorType": "Application",
        "message": "A recipient with this EmailAddress already exists."}
    assert cm.add("Update", emailAddress="cy@example.com") == {
        "returnValue": None, "callStatus": "Failure", "errorType": "Application",
        "message": "No recipient with this EmailAddress exists."}
    assert cm.add("InsertOrUpdate", emailAddress="cy@example.com", isVerified=True)["callStatus"] == "Success"
    assert cm.add("Update", emailAddress="cy@example.com", emailContentType="Text",
                  isVerified=True)["callStatus"] == "Success"
    unknown = cm.add(emailAddress="cy@example.com", values={"cmRecipientValue": [{"fieldName": "SHOE", "value": "9"}]})
    assert unknown == {"returnValue": None, "callStatus": "Failure", "errorType": "Application",
                       "message": 'Unknown recipient field "SHOE".'}
    assert cm.add("Insert", emailAddress="not-an-email")["callStatus"] == "Failure"
    assert cm.add("Insert", emailAddress="dee@example.com", listIds={"int": [999]})["message"] == \
        "No list with id 999 exists."
    cy = cm.recipients(criterion("EmailAddress", "Equals", "cy@example.com"))[1][0]
    assert (cy["isVerified"], cy["emailContentType"]) == (True, "Text")
    # By id as the primary key, the email address itself can change.
    assert cm.add("Update", key="id", id=cy["id"], emailAddress="cy.new@example.com",
                  isVerified=True)["callStatus"] == "Success"
    assert api.get(api.v2(f"contacts/{cy['id']}")).json()["email"] == "cy.new@example.com"
    bo = cm.recipients(criterion("listId", "Equals", list_id))[1]
    assert [row["emailAddress"] for row in bo] == ["bo@example.com"]


def test_is_active_false_unsubscribes_and_nothing_reactivates(api, sandbox, cm):
    # isActive false unsubscribes, whatever the operation type; v2 sees the unsubscribe and its suppression.
    start = sandbox.now()["now"]
    cm.add("Insert", emailAddress="eve@example.com")
    assert cm.add("Update", emailAddress="eve@example.com", isActive=False)["callStatus"] == "Success"
    cm.add("InsertOrUpdate", emailAddress="gus@example.com")
    cm.add("InsertOrUpdate", emailAddress="gus@example.com", isActive=False)
    cm.add("Insert", emailAddress="ivy@example.com", isActive=False)
    for email in ("eve@example.com", "gus@example.com", "ivy@example.com"):
        assert api.get(api.v2(f"contacts/{email}")).json()["status"] == "Unsubscribed"
    suppressed = api.get(api.v2(f"contacts/suppressed-since/{start}")).json()
    assert sorted(row["suppressedContact"]["email"] for row in suppressed) == [
        "eve@example.com", "gus@example.com", "ivy@example.com"]
    # isActive true never reactivates, nor does leaving it out.
    for operation in ("InsertOrUpdate", "Update"):
        assert cm.add(operation, emailAddress="eve@example.com", isActive=True)["callStatus"] == "Success"
    cm.add(emailAddress="fay@example.com")
    sandbox.set_contact_status("fay@example.com", "HardBounced")
    cm.add("InsertOrUpdate", emailAddress="fay@example.com", isActive=True)
    cm.add("InsertOrUpdate", emailAddress="ivy@example.com")
    active = {row["emailAddress"]: row["isActive"] for row in cm.all_recipients()}
    assert active == dict.fromkeys(("eve@example.com", "gus@example.com", "ivy@example.com", "fay@example.com"),
                                   False)
    # An import's MakeActive activates only a recipient that never was active (imported without MakeActive);
    # the unsubscribed stay inactive, and AddRecipient activates neither.
    cm.submit("emailAddress\nhal@example.com\n", InsertSettings={"AllowImport": True, "MakeActive": False})
    cm.main.service.GetServerTime()
    cm.add("InsertOrUpdate", emailAddress="hal@example.com", isActive=True)
    assert api.get(api.v2("contacts/hal@example.com")).json()["status"] == "PendingOptIn"
    cm.submit("emailAddress,firstName\neve@example.com,Eve\nhal@example.com,Hal\n")
    cm.main.service.GetServerTime()
    active = {row["emailAddress"]: row["isActive"] for row in cm.all_recipients()}
    assert (active["eve@example.com"], active["hal@example.com"]) == (False, True)


# -- import jobs ----------------------------------------------------------------------------------------------


def test_import_job_applied_after_the_import_delay(sandbox, cm):
    sandbox.configure(import_delay=60)
    list_id = cm.new_list()
    cm.add(emailAddress="old@example.com", values={"cmRecipientValue": [{"fieldName": "GENDER", "value": "f"}]})
    csv_text = ("EmailAddress;FIRSTNAME;GENDER\nold@example.com;Olga;\nnew@example.com;Nils;m\nnot-an-email;X;\n"
                "NEW@example.com;Nina;m\n")
    job_id = cm.submit(csv_text, Delimiter=";", ListId=list_id, UseFirstDuplicate=True)
    pending = cm.jobs.service.GetJobResult(JobId=job_id, _soapheaders={"SecurityToken": {"Value": cm.token}})
    assert (pending["Status"], pending["Failed"]) == ("Pending", 0)
    assert isinstance(job_id, int)
    assert cm.recipients(criterion("listId", "Equals", list_id))[1] == []
    sandbox.advance_clock(30)
    assert cm.recipients(criterion("listId", "Equals", list_id))[1] == []
    sandbox.advance_clock(31)
    rows = cm.recipients(criterion("listId", "Equals", list_id))[1]
    values = {row["emailAddress"]: {v["fieldName"]: v["value"] for v in row["values"]["cmRecipientValue"]}
              for row in rows}
    assert {email: (v["FIRSTNAME"], v["GENDER"]) for email, v in values.items()} == {
        "old@example.com": ("Olga", None), "new@example.com": ("Nils", "m")}
    reason = "'not-an-email' is not a valid email address."
    [job] = sandbox.state()["campaign_master"]["jobs"]
    assert (job["id"], job["status"], job["report"]) == (job_id, "Done", {
        "inserted": 1, "updated": 1, "skipped": 1, "failures": [[3, "not-an-email", reason]]})
    result = serialize_object(cm.jobs.service.GetJobResult(JobId=job_id,
                                                           _soapheaders={"SecurityToken": {"Value": cm.token}}), dict)
    assert result == {"JobId": job_id, "Status": "Completed", "Inserted": 1, "Updated": 1, "Failed": 1,
                      "FailedRows": {"JobResultRow": [{"RowNumber": 3, "Key": "not-an-email", "Reason": reason}]}}


def test_import_job_refusals(sandbox, cm):
    refusals = [
        ({"csv_text": "EmailAddress,shoeSize\na@example.com,9\n"}, 'The file\'s column "shoeSize" is not a recipient field.'),
        ({"csv_text": "FIRSTNAME\nAnn\n"}, "The file has no EmailAddress column."),
        ({"csv_text": "EmailAddress\na@example.com\n", "Delimiter": ",,"}, "Delimiter must be one character."),
        ({"csv_text": "EmailAddress\na@example.com\n", "PrimaryKey": "GENDER"},
         'The PrimaryKey "GENDER" is not a column of the file.'),
    ]
    for arguments, message in refusals:
        assert fault_of(cm.submit, **arguments) == ("s:InvalidArgument", message)
    assert fault_of(cm.submit, "EmailAddress\na@example.com\n", ListId=999)[0] == "s:NotFound"
    assert fault_of(cm.submit, "EmailAddress\na@example.com\n", token="expired")[0] == "s:InvalidToken"
    no_header = cm.jobs.service.SubmitImportJob
    assert fault_of(no_header, FileToImport=b"EmailAddress\n", _soapheaders={"JobDefinition": JOB})[1] == \
        "The SOAP header SecurityToken is required and has not been provided."
    assert sandbox.state()["campaign_master"]["jobs"] == []


# -- campaigns -------------------------------------------------------------------------------------------------


def test_campaign_refusals_update_and_template_lock(api, cm):
    def refused(answer):
        assert (answer["callStatus"], answer["errorType"], answer["campaignId"]) == ("Failure", "Application", 0)
        return answer["message"]

    assert refused(cm.campaign(subject="")) == "Campaign subject is required and has not been provided"
    assert refused(cm.campaign(description="")) == "Campaign description is required and has not been provided"
    assert refused(cm.campaign(fromEmail="me@elsewhere.example")) == \
        "The from email is not a global address of this account."
    assert refused(cm.campaign(templateId=99)) == "No template with id 99 exists."
    addresses = cm.GetGlobalAddresses()
    assert [a["emailAddress"] for a in addresses] == ["news@sandbox.example.com", "marketing@sandbox.example.com"]
    [template] = cm.GetTemplates()
    created = cm.campaign(name="", htmlContent=None, templateId=template["id"])
    assert created["callStatus"] == "Success"
    campaign_id = created["campaignId"]
    campaign = cm.GetEmailCampaign(campaignId=campaign_id)
    assert (campaign["name"], campaign["status"], campaign["templateId"], campaign["sendDate"]) == (
        "Spring sale", "Draft", template["id"], None)
    assert "$UNSUB$" in campaign["htmlContent"]  # the template's content
    # The same campaign through the v2 API.
    v2 = api.get(api.v2(f"campaigns/{campaign_id}")).json()
    assert (v2["subject"], v2["fromAddress"]["email"], v2["status"]) == ("Spring sale", "news@sandbox.example.com",
                                                                          "Unsent")
    locked = cm.UpdateEmailCampaign(campaignId=campaign_id, campaign={"templateId": template["id"] + 1})
    assert locked["message"] == "The template of a campaign cannot be changed after it was created."
    updated = cm.UpdateEmailCampaign(campaignId=campaign_id, campaign={"subject": "Summer sale",
                                                                       "templateId": template["id"]})
    assert updated == {"callStatus": "Success", "errorType": "None", "message": None, "campaignId": campaign_id}
    campaign = cm.GetEmailCampaignByExternalId(externalId="odoo-1")
    assert (campaign["id"], campaign["subject"], campaign["description"]) == (campaign_id, "Summer sale",
                                                                             "Spring offers")
    assert fault_of(cm.GetEmailCampaignByExternalId, externalId="odoo-404")[0] == "s:NotFound"
    assert fault_of(cm.GetEmailCampaign, campaignId=404)[0] == "s:NotFound"
    # A v2 update keeps what only Campaign Master shows; a v2 campaign is a Campaign Master draft.
    body = {k: v2[k] for k in ("name", "subject", "fromName", "htmlContent", "plainTextContent")}
    assert api.put(api.v2(f"campaigns/{campaign_id}"), json={**body, "subject": "From v2"}).ok
    assert cm.GetEmailCampaign(campaignId=campaign_id)["externalId"] == "odoo-1"
    made_in_v2 = api.post(api.v2("campaigns"), json=body).json()["id"]
    assert cm.GetEmailCampaign(campaignId=made_in_v2)["status"] == "Draft"


def test_lists(cm):
    list_id = cm.new_list("Readers")
    assert cm.CreateList(name="readers") == {"callStatus": "Failure", "errorType": "Application",
                                             "message": 'A list named "readers" already exists.', "listId": 0}
    assert cm.CreateList(name="All Contacts")["callStatus"] == "Failure"
    assert cm.CreateList(name=" ")["message"] == "List name is required and has not been provided"
    cm.imported(list_id, 3)
    [row] = cm.GetLists()
    assert (row["id"], row["name"], row["recipientCount"]) == (list_id, "Readers", 3)


def sent(sandbox, cm, recipients=200):
    sandbox.configure(engagement=RATES)
    list_id = cm.new_list()
    cm.imported(list_id, recipients)
    campaign_id = cm.campaign()["campaignId"]
    assert cm.SendTestEmailCampaign(campaignId=campaign_id, emailAddresses={"string": ["qa@example.com"]}) == {
        "returnValue": None, "callStatus": "Success", "errorType": "None", "message": None}
    assert cm.SendEmailCampaign(campaignId=campaign_id, listId=list_id, sendDate=None)["callStatus"] == "Success"
    cm.advance(7200)
    return list_id, campaign_id


def test_figures_equal_the_dotdigital_summary_of_the_same_campaign(api, sandbox, cm):
    list_id, campaign_id = sent(sandbox, cm)
    v2 = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()
    summary = cm.GetEmailCampaignSummary(campaignId=campaign_id)
    assert summary == cm.GetEmailCampaignSummaryByExternalId(externalId="odoo-1")
    results = []
    for page in (1, 2):
        answer = cm.GetEmailCampaignResults(campaignId=campaign_id, page=page, resultsUpdatedAfter=None)
        results += (answer["resultRows"] or {}).get("EmailCampaignResultRow") or []
    bounces = cm.GetEmailCampaignBounces(campaignId=campaign_id, page=1)
    opens = cm.GetEmailCampaignOpens(campaignId=campaign_id, page=1)
    bounces, opens = bounces["resultRows"]["EmailCampaignBounceRow"], opens["resultRows"]["EmailCampaignOpenRow"]

    assert summary["totalSelectedRecipients"] == v2["numSent"] == len(results) == 200
    assert summary["totalContacts"] == 200
    assert summary["reads"] == {"total": v2["numTotalOpens"], "unique": v2["numTotalUniqueOpens"]}
    assert summary["reads"]["total"] == sum(r["reads"] for r in results) == len(opens)
    assert summary["reads"]["unique"] == sum(r["reads"] > 0 for r in results)
    assert summary["clicks"] == {"total": v2["numTotalClicks"], "unique": v2["numRecipientsClicked"]}
    assert summary["clicks"]["unique"] == sum(r["clicks"] > 0 for r in results)
    # One bounces figure (evidence); the weights of the bounces listing split it.
    assert summary["bounces"] == v2["numHardBounces"] + v2["numSoftBounces"]
    assert summary["totalFailures"] == summary["bounces"] == sum(r["bounced"] for r in results) == len(bounces)
    assert sorted(b["bounceWeight"] for b in bounces) == ["Hard"] * v2["numHardBounces"] + ["Soft"] * v2["numSoftBounces"]
    assert summary["totalUnsubscribes"] == v2["numUnsubscribes"] == sum(r["unsubscribed"] for r in results)
    assert summary["forwards"]["total"] == v2["numForwards"]
    assert sum(r["complained"] for r in results) == v2["numIspComplaints"] > 0
    viewers = sum(r["reads"] > 0 or r["clicks"] > 0 for r in results)
    assert summary["confirmedTotalViews"] == viewers > 0
    assert summary["noActivityTotal"] == summary["totalSelectedRecipients"] - viewers
    assert summary["started"].timestamp() == pytest.approx(
        cm.GetEmailCampaign(campaignId=campaign_id)["sentDate"].timestamp())
    assert summary["completed"] is not None and summary["id"] == campaign_id
    assert all(r["firstClickDate"] and r["lastClickDate"] >= r["firstClickDate"] for r in results if r["clicks"])
    assert all(r["firstReadDate"] is None for r in results if not r["reads"])
    assert {r["emailAddress"] for r in results} == {f"user{index}@example.com" for index in range(200)}
    # The test send went to nobody of the list and added nothing to the figures.
    [test_send] = sandbox.state()["campaign_master"]["test_sends"]
    assert (test_send["campaign_id"], test_send["emails"]) == (campaign_id, ["qa@example.com"])
    assert "qa@example.com" not in {r["emailAddress"] for r in results}
    # Bounced, complaining and unsubscribed recipients are inactive now, as v2 shows them.
    inactive = {row["emailAddress"] for row in cm.all_recipients(criterion("isActive", "Equals", "false"))}
    statuses = {c["email"]: c["status"] for c in api.get(api.v2(f"address-books/{list_id}/contacts")).json()}
    assert inactive == {email for email, status in statuses.items() if status not in ("Subscribed", "SoftBounced")}


def test_results_updated_after_and_paging_state(sandbox, cm):
    sandbox.configure(engagement={"open": 1, "hard_bounce": 0, "soft_bounce": 0, "window_seconds": 3600})
    list_id = cm.new_list()
    cm.imported(list_id, 20)
    campaign_id = cm.campaign()["campaignId"]
    cm.SendEmailCampaign(campaignId=campaign_id, listId=list_id, sendDate=None)
    cm.advance(1800)
    halfway = cm.main.service.GetServerTime()
    early = cm.GetEmailCampaignSummary(campaignId=campaign_id)["reads"]["total"]
    cm.advance(1801)
    later = cm.GetEmailCampaignResults(campaignId=campaign_id, page=1, resultsUpdatedAfter=halfway)
    everyone = cm.GetEmailCampaignResults(campaignId=campaign_id, page=1, resultsUpdatedAfter=None)
    assert later["isLastPage"] and everyone["isLastPage"] and everyone["currentPage"] == 1
    rows = later["resultRows"]["EmailCampaignResultRow"]
    assert 0 < len(rows) <= len(everyone["resultRows"]["EmailCampaignResultRow"])
    assert all(row["lastReadDate"] >= halfway for row in rows)
    assert cm.GetEmailCampaignSummary(campaignId=campaign_id)["reads"]["total"] > early
    after_all = cm.main.service.GetServerTime()
    assert cm.GetEmailCampaignResults(campaignId=campaign_id, page=1, resultsUpdatedAfter=after_all)["resultRows"] is None


def test_send_rules_status_and_schedule(api, sandbox, cm):
    list_id = cm.new_list()
    campaign_id = cm.campaign()["campaignId"]
    assert cm.SendEmailCampaign(campaignId=campaign_id, listId=999, sendDate=None)["message"] == \
        "No list with id 999 exists."
    assert cm.SendEmailCampaign(campaignId=campaign_id, listId=list_id, sendDate=None)["message"] == \
        f"The list {list_id} has no active recipients."
    cm.imported(list_id, 3)
    assert cm.SendTestEmailCampaign(campaignId=campaign_id, emailAddresses={"string": []})["message"] == \
        "At least one email address is required."
    later = sandbox.now()["epoch"] + 86400
    send_date = datetime.datetime.fromtimestamp(later, datetime.timezone.utc)
    assert cm.SendEmailCampaign(campaignId=campaign_id, listId=list_id, sendDate=send_date)["callStatus"] == "Success"
    campaign = cm.GetEmailCampaign(campaignId=campaign_id)
    assert campaign["status"] == "Scheduled" and campaign["sendDate"].timestamp() == pytest.approx(later, abs=0.01)
    assert cm.UpdateEmailCampaign(campaignId=campaign_id, campaign={"subject": "Late"})["message"] == \
        "Only draft campaigns can be changed."
    cm.advance(86401)
    campaign = cm.GetEmailCampaign(campaignId=campaign_id)
    assert (campaign["status"], campaign["sentDate"] is not None) == ("Sent", True)
    assert api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()["numSent"] == 3


def test_sent_campaigns_window(api, sandbox, cm):
    before = cm.main.service.GetServerTime()
    list_id = cm.new_list()
    cm.imported(list_id, 2)
    first = cm.campaign(externalId="a")["campaignId"]
    cm.SendEmailCampaign(campaignId=first, listId=list_id, sendDate=None)
    cm.advance(3600)
    middle = cm.main.service.GetServerTime()
    second = cm.campaign(externalId="b", name="Second")["campaignId"]
    cm.SendEmailCampaign(campaignId=second, listId=list_id, sendDate=None)
    cm.campaign(externalId="never sent")
    sandbox.advance_clock(60)
    now = cm.main.service.GetServerTime()
    everything = cm.GetSentCampaigns(**{"from": before, "to": now})
    assert [(c["id"], c["campaignType"], c["externalId"]) for c in everything] == [(first, "Email", "a"),
                                                                                  (second, "Email", "b")]
    assert [c["id"] for c in cm.GetSentCampaigns(**{"from": before, "to": middle})] == [first]
    assert [c["id"] for c in cm.GetSentCampaigns(**{"from": middle, "to": now})] == [second]
    assert everything[1]["name"] == "Second" and everything[0]["description"] == "Spring offers"


# -- faults, malformed calls, rate limits, the request log ---------------------------------------------------------


def test_soap_fault_on_one_operation_only(sandbox, cm):
    sandbox.clear_log()
    sandbox.inject_fault(MAIN, "soap_fault", count=1, operation="GetRecipients")
    assert cm.GetLists() is None
    assert fault_of(cm.GetRecipients, page=1, criteria=None) == (
        "s:ServiceUnavailable", "The service is temporarily unavailable.")
    assert cm.GetRecipients(page=1, criteria=None)["isLastPage"]
    sandbox.inject_fault(MAIN, "soap_fault", operation="GetLists", code="InvalidToken")
    assert fault_of(cm.GetLists) == ("s:InvalidToken", "The token is invalid or has expired. Log in again.")
    assert cm.GetLists() is None  # the token itself is still good
    log = [(entry["method"], entry["path"], entry["operation"], entry["status"]) for entry in sandbox.requests_log()]
    assert log == [("POST", MAIN, "GetLists", 200), ("POST", MAIN, "GetRecipients", 500),
                   ("POST", MAIN, "GetRecipients", 200), ("POST", MAIN, "GetLists", 500), ("POST", MAIN, "GetLists", 200)]


def test_transport_faults_on_soap_paths(sandbox, cm):
    sandbox.inject_fault(MAIN, "html_502", method="POST")
    with pytest.raises((TransportError, Fault)):
        cm.GetLists()
    raw = raw_post(sandbox, b"<x/>")
    assert raw.status_code == 500  # the fault was used up by one call
    sandbox.inject_fault(MAIN, "html_502", method="POST")
    page = raw_post(sandbox, b"<x/>")
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
    sandbox.inject_fault(MAIN, "http_500", method="POST")
    with pytest.raises(TransportError):
        cm.GetLists()
    sandbox.inject_fault(JOBS, "drop_connection", method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        cm.submit("EmailAddress\na@example.com\n")
    slow = CampaignMaster(sandbox, timeout=0.3)
    sandbox.inject_fault(MAIN, "slow", seconds=0.6, operation="GetTemplates")
    with pytest.raises(requests.exceptions.ReadTimeout):
        slow.GetTemplates()
    assert [entry["status"] for entry in sandbox.requests_log() if entry.get("operation") == "SubmitImportJob"] == [0]


def test_malformed_calls_answer_client_faults(sandbox):
    def fault(response):
        assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/xml")
        root = etree.fromstring(response.content)
        assert root.find(".//detail") is None
        return root.findtext(".//faultcode"), root.findtext(".//faultcode")[2:], root.findtext(".//faultstring")

    envelope = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{}</s:Body></s:Envelope>')
    assert fault(raw_post(sandbox, b"<not xml")) == ("s:InvalidArgument", "InvalidArgument",
                                                     "The request is not well-formed XML.")
    assert fault(raw_post(sandbox, envelope.format(f'<Explode xmlns="{TNS}"/>')))[1:] == (
        "InvalidArgument", "Explode is not an operation of CampaignMasterService.")
    assert fault(raw_post(sandbox, envelope.format(f'<GetRecipientFields xmlns="{TNS}"/>')))[1:] == (
        "InvalidArgument", "The parameter token is required and has not been provided.")
    assert fault(raw_post(sandbox, envelope.format(f'<GetRecipients xmlns="{TNS}"><token>x</token><page>one</page>'
                                                   '</GetRecipients>')))[1] == "InvalidArgument"
    mismatch = raw_post(sandbox, envelope.format(f'<GetServerTime xmlns="{TNS}"/>'),
                        action=f'"{TNS}/ICampaignMasterService/Login"')
    assert fault(mismatch)[1] == "InvalidArgument"
    by_action = raw_post(sandbox, envelope.format(f'<GetServerTime xmlns="{TNS}"/>'),
                         action=f'"{TNS}/IAPIService/GetServerTime"')
    assert by_action.status_code == 200 and b"GetServerTimeResult" in by_action.content
    assert sandbox.requests_log()[0]["operation"] is None
    assert [entry["operation"] for entry in sandbox.requests_log()[1:]] == [
        "Explode", "GetRecipientFields", "GetRecipients", "Login", "GetServerTime"]


def test_rate_limits_answer_too_many_requests(sandbox, cm):
    sandbox.configure(rate_limit={"mode": "flat", "calls_per_hour": 2})
    cm.GetLists()
    cm.GetTemplates()
    assert fault_of(cm.GetLists)[0] == "s:TooManyRequests"
    cm.advance(3601)
    sandbox.configure(rate_limit={"mode": "tiered", "tiers": {"medium": 1, "high": 100}})
    cm.GetRecipients(page=1, criteria=None)
    assert fault_of(cm.GetRecipients, page=1, criteria=None)[0] == "s:TooManyRequests"
    assert cm.GetLists() is None  # another tier
    # The same answer, planned.
    sandbox.inject_fault(MAIN, "soap_fault", operation="GetLists", code="TooManyRequests")
    assert fault_of(cm.GetLists) == (f"s:{assumed.THROTTLED[0]}", assumed.THROTTLED[1])


def test_dotdigital_api_is_unchanged_beside_the_soap_services(api, sandbox, cm):
    cm.new_list("Shared")
    assert "Shared" in [book["name"] for book in api.get(api.v2("address-books")).json()]
    log = sandbox.requests_log()
    assert all("operation" not in entry for entry in log if entry["path"].startswith("/v2/"))
    assert requests.get(f"{sandbox.url}/v2/account-info").status_code == 401  # Basic auth still guards v2
    assert requests.get(f"{sandbox.url}{MAIN}?wsdl", auth=("x", "y")).status_code == 200  # but not SOAP


def test_command_line_documents_the_campaign_master_options():
    result = subprocess.run([sys.executable, "-m", "esp_sandbox", "--help"], capture_output=True, text=True, check=True)
    assert "--cm-client-id" in result.stdout and "--cm-token-minutes" in result.stdout


def test_import_file_is_base64_on_the_wire(sandbox, cm):
    captured = []
    plugin = type("Capture", (zeep.Plugin,), {"egress": lambda self, envelope, http_headers, operation, binding_options:
                                                  captured.append(envelope) or (envelope, http_headers)})()
    client = zeep.Client(f"{sandbox.url}{JOBS}?wsdl", plugins=[plugin])
    client.service.SubmitImportJob(FileToImport=b"EmailAddress\nz@example.com\n",
                                   _soapheaders={"SecurityToken": {"Value": cm.token}, "JobDefinition": JOB})
    text = captured[0].find(f".//{{{TNS}}}SubmitJobRequest/{{{TNS}}}FileToImport").text
    assert base64.b64decode(text) == b"EmailAddress\nz@example.com\n"
    assert captured[0].find(f".//{{{TNS}}}SecurityToken/{{{jobs.DC}}}Value").text == cm.token
