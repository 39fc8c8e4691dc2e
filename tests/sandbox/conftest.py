"""Builders shared by the sandbox tests (the server fixtures live in tests/conftest.py)."""

import base64

import pytest

CAMPAIGN_HTML = (
    '<html><body><p>Hi $FIRSTNAME$</p><a href="https://example.com/offer">Offer</a> '
    '<a href="https://example.com/blog">Blog</a> <a href="http://$UNSUB$">Unsubscribe</a></body></html>'
)


class Builder:
    """Short ways to put an account into a given shape through the real v2 API."""

    def __init__(self, api, sandbox):
        self.api = api
        self.sandbox = sandbox

    def book(self, name="Newsletter", visibility="Private"):
        response = self.api.post(self.api.v2("address-books"), json={"name": name, "visibility": visibility})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def start_import(self, book_id, csv_text, file_name="contacts.csv", merge_option=None):
        path = f"address-books/{book_id}/contacts/import"
        if merge_option:
            path += f"/with-merge-option/{merge_option}"
        data = base64.b64encode(csv_text.encode()).decode()
        return self.api.post(self.api.v2(path), json={"fileName": file_name, "data": data})

    def imported(self, book_id, csv_text, **kwargs):
        """Import and wait for the import to end; returns its id."""
        response = self.start_import(book_id, csv_text, **kwargs)
        assert response.status_code == 202, response.text
        import_id = response.json()["id"]
        status = self.api.get(self.api.v2(f"contacts/import/{import_id}")).json()["status"]
        assert status == "Finished", status
        return import_id

    def contacts(self, book_id, count, domain="example.com"):
        rows = "\n".join(f"user{i}@{domain},First{i}" for i in range(count))
        self.imported(book_id, f"Email,FIRSTNAME\n{rows}\n")
        return [f"user{i}@{domain}" for i in range(count)]

    def contact(self, email, **fields):
        body = {"email": email, "dataFields": [{"key": k, "value": v} for k, v in fields.items()]}
        response = self.api.post(self.api.v2("contacts"), json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def campaign(self, name="Spring sale", html=CAMPAIGN_HTML):
        body = {"name": name, "subject": "Spring sale", "fromName": "Shop", "htmlContent": html,
                "plainTextContent": "Hi, see https://example.com/offer http://$UNSUB$"}
        response = self.api.post(self.api.v2("campaigns"), json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def send(self, campaign_id, book_ids=(), contact_ids=(), **extra):
        body = {"campaignId": campaign_id, "addressBookIds": list(book_ids), "contactIds": list(contact_ids), **extra}
        response = self.api.post(self.api.v2("campaigns/send"), json=body)
        assert response.status_code == 202, response.text
        return response.json()


@pytest.fixture
def build(api, sandbox):
    return Builder(api, sandbox)
