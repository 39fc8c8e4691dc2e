"""Campaign Master against the public evidence kept in the repository (``specs/campaign-master/``):

- the sandbox's service descriptions equal the WSDLs rebuilt from the evidence, in both casings of the member
  names (operations, SOAPActions, messages, every type's members in order);
- every call the provider makes, read off the wire, matches ``facts.json``: SOAPAction, body element,
  parameters in order, member names of the casing served, in schema order, the Job service's headers and
  namespaces;
- the wrong-password fault is the recorded one.
"""

import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
import requests
import zeep
from esp_providers import exceptions
from esp_providers.campaign_master import CampaignMasterProvider
from esp_providers.campaign_master.provider import ALL_RECIPIENTS
from lxml import etree
from zeep.cache import InMemoryCache

SPECS = Path(__file__).resolve().parents[2] / "specs" / "campaign-master"
FACTS = json.loads((SPECS / "facts.json").read_text())
TNS = FACTS["main_service"]["target_namespace"]
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MAIN = "/campaignmaster/v1.1/CampaignMasterService.svc"
JOBS = "/campaignmaster/v1.1/CampaignMasterJobService.svc"
REBUILT = {"wire-inferred": SPECS / "CampaignMasterService.reconstructed.wire-inferred.wsdl",
           "as-recorded": SPECS / "CampaignMasterService.reconstructed.as-recorded.wsdl"}
MEMBER_NAME = {"wire-inferred": "name_wire_inferred", "as-recorded": "name_as_recorded"}
OPERATIONS = {op["name"]: op for op in FACTS["main_service"]["operations"]}
JOB_OPERATIONS = {op["name"]: op for op in FACTS["job_service"]["operations"]}
TYPES = {declared["qname"]: declared for declared in FACTS["main_service"]["types"]}
SUBMIT = FACTS["job_service"]["submit_import_job"]
# What the provider relies on of the evidence: every one of these is called in the test below.
USED = {"Login", "GetServerTime", "GetRecipients", "GetRecipientFields", "AddRecipient", "GetSentCampaigns",
        "GetEmailCampaignSummary", "GetEmailCampaignResults", "GetEmailCampaignBounces", "GetEmailCampaignOpens"}
HTML = '<html><body><p>Hi</p><a href="https://example.com/a">A</a> <a href="http://$UNSUB$">U</a></body></html>'


@pytest.fixture(params=list(REBUILT))
def case(request, sandbox):
    sandbox.configure(cm_member_case=request.param)
    InMemoryCache._cache.clear()
    return request.param


def unprefixed(signature):
    return re.sub(r"\bns\d+:", "", signature)


def local(element):
    return etree.QName(element).localname


def members(type_name, case):
    """The members of a type of facts.json in wire order (its base's first), named in ``case``."""
    declared = TYPES[type_name.removeprefix("tns:")]
    base = members(declared["extends"], case) if declared.get("extends") else []
    return base + [(member[MEMBER_NAME[case]], member["type"]) for member in declared.get("members", ())]


def check_value(element, type_name, case, where):
    """An element sent for a value of ``type_name``: array items and members as facts.json has them."""
    declared = TYPES.get(type_name.removeprefix("tns:"))
    if declared is None or declared["kind"] == "enum":
        assert len(element) == 0, where
        if declared is not None:
            assert element.text in declared["values"], (where, element.text)
        return
    if declared["kind"] == "array":
        for item in element:
            assert (etree.QName(item).namespace, local(item)) == (TNS, declared["item_element"]), where
            check_value(item, declared["item_type"], case, f"{where}/{local(item)}")
        return
    expected = members(type_name, case)
    names = [name for name, _type in expected]
    sent = [local(child) for child in element]
    assert all(etree.QName(child).namespace == TNS for child in element), where
    assert set(sent) <= set(names), (where, sorted(set(sent) - set(names)))
    assert sent == [name for name in names if name in sent], (where, "member order")
    for child in element:
        check_value(child, dict(expected)[local(child)], case, f"{where}/{local(child)}")


def check_main_call(envelope, action, case):
    name = action.rsplit("/", 1)[-1]
    fact = OPERATIONS[name]
    assert action == fact["soap_action"]
    body = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
    assert f"tns:{local(body)}" == fact["input_element"] and etree.QName(body).namespace == TNS
    params = [(param["name"], param["type"]) for param in fact["parameters"]]
    sent = [local(child) for child in body]
    assert sent == [param for param, _type in params if param in sent], (name, sent)
    for child in body:
        check_value(child, dict(params)[local(child)], case, f"{name}/{local(child)}")
    return name


def check_job_call(envelope, action):
    name = action.rsplit("/", 1)[-1]
    assert action == JOB_OPERATIONS[name]["soap_action"]
    if name != "SubmitImportJob":
        return name
    header = envelope.find(f"{{{SOAP_ENV}}}Header")
    headers = {local(child): child for child in header}
    assert set(headers) == {part["part"] for part in JOB_OPERATIONS[name]["input_soap_headers"]}
    token = headers["SecurityToken"]
    [value] = token
    expected = SUBMIT["soap_headers"]["SecurityToken"]["members"][0]
    assert (etree.QName(value).namespace, local(value)) == (expected["ns"], expected["name"]) and value.text
    definition = headers["JobDefinition"]
    assert etree.QName(definition).namespace == TNS
    expected = SUBMIT["soap_headers"]["JobDefinition"]["members_in_order_sent"]
    assert [(etree.QName(child).namespace, local(child)) for child in definition] == [
        (member["ns"], member["name"]) for member in expected]
    for child, member in zip(definition, expected, strict=True):
        if "members" in member:
            assert [(etree.QName(item).namespace, local(item)) for item in child] == [
                (item["ns"], item["name"]) for item in member["members"]]
        if "value_sent" in member and member["name"] == "PrimaryKey":
            assert child.text == member["value_sent"]
    body = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
    assert local(body) == SUBMIT["body"]["element"].removeprefix("tns:")
    assert [(etree.QName(child).namespace, local(child)) for child in body] == [
        (member["ns"], member["name"]) for member in SUBMIT["body"]["members"]]
    return name


def test_sandbox_wsdls_equal_the_rebuilt_ones(sandbox, case):
    served = zeep.Client(f"{sandbox.url}{MAIN}?wsdl")
    rebuilt = zeep.Client(str(REBUILT[case]))
    ours, theirs = served.service._binding._operations, rebuilt.service._binding._operations
    assert set(ours) == set(theirs) == set(OPERATIONS)
    for name, operation in theirs.items():
        assert ours[name].soapaction == operation.soapaction == OPERATIONS[name]["soap_action"]
        assert ours[name].input.signature() == operation.input.signature(), name
        assert ours[name].output.signature() == operation.output.signature(), name
    for qname in TYPES:
        if TYPES[qname]["kind"] == "enum":
            continue
        ours_type = served.get_type(f"{{{TNS}}}{qname}")
        assert ours_type.signature() == rebuilt.get_type(f"{{{TNS}}}{qname}").signature(), qname
    # The Job service: its operations and headers as recorded.
    jobs = zeep.Client(f"{sandbox.url}{JOBS}?wsdl").service._binding._operations
    assert set(JOB_OPERATIONS) <= set(jobs)
    for name, operation in JOB_OPERATIONS.items():
        assert jobs[name].soapaction == operation["soap_action"]
    rebuilt_jobs = zeep.Client(str(SPECS / "CampaignMasterJobService.reconstructed.wsdl")).service._binding._operations
    for name, operation in rebuilt_jobs.items():
        # zeep numbers the namespace prefixes in its own order: the names must agree, the numbers may not.
        for ours_message, theirs_message in ((jobs[name].input, operation.input), (jobs[name].output, operation.output)):
            assert unprefixed(ours_message.signature()) == unprefixed(theirs_message.signature()), name


def test_provider_calls_match_the_evidence(sandbox, api, case):
    client = CampaignMasterProvider(client_id=1000, username=sandbox.api_user, password=sandbox.api_password,
                                    base_url=f"{sandbox.url}/campaignmaster", backoff_factor=0, timeout=10)
    sent = []
    post = client._zeep_transport.post

    def recording(address, message, headers):
        sent.append((address, headers.get("SOAPAction", "").strip('"'), etree.fromstring(message)))
        return post(address, message, headers)

    client._zeep_transport.post = recording
    # A campaign made and sent in Campaign Master, to recipients the provider then reads.
    sandbox.configure(engagement={"open": 0.8, "click": 0.5, "hard_bounce": 0.1, "soft_bounce": 0.1})
    book = api.post(api.v2("address-books"), json={"name": "Readers"}).json()["id"]
    for index in range(30):
        api.post(api.v2(f"address-books/{book}/contacts"), json={"email": f"r{index}@example.com"})
    campaign = api.post(api.v2("campaigns"), json={"name": "Sale", "subject": "Sale", "fromName": "Shop",
                                                   "htmlContent": HTML, "plainTextContent": "Hi http://$UNSUB$"})
    api.post(api.v2("campaigns/send"), json={"campaignId": campaign.json()["id"], "addressBookIds": [book]})
    sandbox.advance_clock(7200)

    client.test_connection()
    list(client.iter_data_fields())
    client.upsert_contact("ada@example.com")
    client.unsubscribe_from_book(ALL_RECIPIENTS, "ada@example.com")
    list(client.iter_book_contacts_modified_since(ALL_RECIPIENTS, date(2000, 1, 1)))
    list(client.iter_book_unsubscribed_since(ALL_RECIPIENTS, date(2000, 1, 1)))
    job = client.start_import(ALL_RECIPIENTS, io.BytesIO(b"Email,FIRSTNAME\nbo@example.com,Bo\n"))
    client.get_import(job.id)
    [sent_campaign] = client.iter_campaigns()
    client.get_campaign_summary(sent_campaign.id)
    list(client.iter_campaign_activities_since(sent_campaign.id, date(2000, 1, 1)))

    called = set()
    for address, action, envelope in sent:
        if address.endswith(JOBS):
            called.add(("job", check_job_call(envelope, action)))
        else:
            called.add(("main", check_main_call(envelope, action, case)))
    assert {name for service, name in called if service == "main"} == USED
    assert {name for service, name in called if service == "job"} == {"Login", "SubmitImportJob", "GetJobResult"}


def test_wrong_password_fault_is_the_recorded_one(sandbox, case):
    [fact] = FACTS["faults"]
    body = (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Login xmlns="{TNS}"><clientID>1000</clientID>'
            f"<userName>{sandbox.api_user}</userName><password>nope</password></Login></s:Body></s:Envelope>")
    answer = requests.post(f"{sandbox.url}{MAIN}", data=body, headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{OPERATIONS["Login"]["soap_action"]}"'})
    assert answer.status_code == fact["http_status"]
    fault = etree.fromstring(answer.content).find(f".//{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultcode") == fact["faultcode"]
    assert fault.findtext("faultstring") == fact["faultstring"]
    assert fault.find("faultstring").get("{http://www.w3.org/XML/1998/namespace}lang") == fact["faultstring_lang"]
    assert fault.find("detail") is None and fact["detail"] is None
    wrong = CampaignMasterProvider(client_id=1000, username=sandbox.api_user, password="nope",
                                   base_url=f"{sandbox.url}/campaignmaster", backoff_factor=0, timeout=10)
    with pytest.raises(exceptions.AuthenticationError):
        wrong.test_connection()


def test_contract_file_gives_each_operation_and_type_its_evidence():
    from esp_sandbox.campaign_master import jobs, service

    text = (Path(__file__).resolve().parents[2] / "esp_sandbox" / "CAMPAIGN_MASTER.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines()
            if line.startswith("| `")}
    names = [*service.EXTENDED.operations, *jobs.EXTENDED.operations, *service.EXTENDED.types]
    for name in names:
        row = rows.get(name)
        assert row, f"{name} is not in CAMPAIGN_MASTER.md"
        assert "facts.json" in row or "no evidence" in row, name
        for kind, index in re.findall(r"main_service\.(operations|types)\[(\d+)\]", row):
            entry = FACTS["main_service"][kind][int(index)]
            assert entry.get("name", entry.get("qname")) == name, (name, kind, index)
        evidenced = name in OPERATIONS or name in TYPES or name in JOB_OPERATIONS
        assert ("facts.json" in row) is evidenced, name
