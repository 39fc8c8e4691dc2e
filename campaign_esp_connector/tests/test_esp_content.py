"""The content a campaign carries to the ESP (issue #21, items 3 and 4): what Odoo's own send does to a body is
done before it leaves (absolute links and images, a clean plain-text part), and Odoo's placeholders become the
ESP's personalization tags, or are refused by name."""

import base64
import json
import re

import lxml.html

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..sync.campaigns import CampaignSync
from ..sync.content import EspContent, is_local_url, make_links_absolute, plain_text
from .common import EspListSyncCommon

# A 1x1 PNG, as a person uploads an image in the mailing editor.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
# What the editor's conversion to email HTML (web_editor's convert_inline.js) wraps blocks in for Outlook.
MSO_OPEN = ('<!--[if mso]><table cellpadding="0" cellspacing="0" border="0" role="presentation" '
            'style="width: 600px;" align="center"><tr><td style="padding: 0;"><![endif]-->')
MSO_CLOSE = "<!--[if mso]></td></tr></table><![endif]-->"
URL_IN_CSS = re.compile(r"""url\(\s*(?:&quot;|&#34;|&#39;|["'])?([^"')&]*)""")
URL_IN_COMMENT = re.compile(r"""\s(?:src|href)\s*=\s*["']([^"']*)""")
ABSOLUTE = re.compile(r"^(?:https?:|mailto:|tel:|data:|cid:)")


def campaign_urls(html):
    """Every src, href, background and url() of ``html``, MSO comments and <style> elements included."""
    tree = lxml.html.document_fromstring(html)
    urls = []
    for element in tree.iter(lxml.etree.Element):
        for attribute in ("src", "href", "background", "poster"):
            if element.get(attribute) is not None:
                urls.append(element.get(attribute))
        urls += URL_IN_CSS.findall(element.get("style") or "")
    for style in tree.iter("style"):
        urls += URL_IN_CSS.findall(style.text or "")
    for comment in tree.xpath("//comment()"):
        urls += URL_IN_COMMENT.findall(comment.text or "") + URL_IN_CSS.findall(comment.text or "")
    return urls


def relative_urls(urls):
    return [url for url in urls if url.strip() and not url.startswith("#") and not ABSOLUTE.match(url)]


@tagged("campaign_esp_connector", "esp_content")
class TestEspContent(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self.base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url").rstrip("/")
        self.mailing_list = self._create_connected_list([
            {"name": "Ada Lovelace", "email": "ada@example.com"},
            {"name": "Grace Hopper", "email": "grace@example.com"},
        ])
        self._sync_until_idle(self.mailing_list)

    # -- builders ---------------------------------------------------------------------------------------------

    def _theme(self, name):
        """The theme as Odoo's mailing editor offers it (mass_mailing.email_designer_themes, rendered)."""
        rendered = self.env["ir.qweb"]._render("mass_mailing.email_designer_themes",
                                               {"res_company": self.env.company})
        theme = lxml.html.fragment_fromstring(str(rendered), create_parent="div").xpath(f'//div[@data-name="{name}"]')[0]
        return "".join(lxml.html.tostring(child, encoding="unicode") for child in theme)

    def _snippet(self, xmlid):
        return str(self.env["ir.qweb"]._render(xmlid, {"res_company": self.env.company,
                                                       "company_id": self.env.company}))

    def _uploaded_image(self):
        """An image uploaded in the editor: an attachment the body shows as /web/image/<id>-<unique>/<name>."""
        attachment = self.env["ir.attachment"].create({
            "name": "team photo.png", "datas": base64.b64encode(PNG), "mimetype": "image/png",
            "res_model": "mailing.mailing", "public": True,
        })
        return attachment, attachment.image_src

    def _theme_body(self):
        """Odoo's Welcome Message theme with snippets, an uploaded image, the editor's MSO blocks and icons turned
        into images, as body_html is once the editor converted it for email."""
        _attachment, image_src = self._uploaded_image()
        blocks = [
            self._theme("default"),
            self._snippet("mass_mailing.s_cover"),
            self._snippet("mass_mailing.s_picture"),
            self._snippet("mass_mailing.s_image_text"),
            f'<p><a href="{image_src}"><img src="{image_src}" alt="Our team"/></a></p>',
            # An image inserted by hand with a path without its leading slash, and single quotes.
            "<p><img src='web/image/mass_mailing.s_cover_default_image' alt=''/></p>",
            # Font icons the conversion turned into images.
            '<p><a href="https://www.facebook.com/odoo"><img src="/web_editor/font_to_img/61594/rgb(0,0,0)/24" '
            'style="width:24px"/></a></p>',
            f'<!--[if mso]><v:image src="{image_src}" style="width:600px;height:200px"/><![endif]-->',
            self._snippet("mass_mailing.s_mail_block_footer_social"),
        ]
        style = "<style>.o_cover { background-image: url('/mass_mailing/static/src/img/theme_default/s_default_image_header_logo.png'); }</style>"
        return f'{style}<div class="o_layout">{MSO_OPEN}{"".join(blocks)}{MSO_CLOSE}</div>'

    def _mailing(self, body, **values):
        return self._create_mailing(self.mailing_list, body=body, **values)

    def _remote_campaign(self, mailing):
        campaign_id = int(mailing.esp_campaign_remote_id)
        store = self.sandbox.app.store
        with store.lock:
            row = store.db.execute("SELECT body FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        return json.loads(row["body"])

    # -- asserts ----------------------------------------------------------------------------------------------

    def assertOnlyAbsoluteUrls(self, html):
        urls = campaign_urls(html)
        self.assertTrue(urls)
        self.assertFalse(relative_urls(urls), "relative URLs reached the ESP")
        return urls

    def assertCleanPlainText(self, text):
        self.assertFalse(re.search(r"<\s*/?\s*[a-zA-Z!]", text), f"HTML in the plain text:\n{text}")
        self.assertNotIn("None", text)
        self.assertNotIn("[if mso]", text)
        body = re.split(r"\n\[1\] ", text)[0]
        for match in re.finditer(r"(^|\S)[ \xa0]*\[\d+\]", body, re.MULTILINE):
            self.assertTrue(match.group(1), f"a link reference without a text:\n{text}")
        for url in re.findall(r"^\[\d+\] ?(.*)$", text, re.MULTILINE):
            self.assertTrue(url.strip(), f"an empty reference:\n{text}")
        self.assertTrue(text.endswith("Unsubscribe: http://$UNSUB$"), text)

    # -- links and images -------------------------------------------------------------------------------------

    def test_theme_body_reaches_the_esp_with_absolute_urls_and_clean_text(self):
        mailing = self._mailing(self._theme_body(), preview="Our spring news")
        mailing.action_esp_sync_campaign()
        campaign = self._remote_campaign(mailing)
        html = campaign["htmlContent"]
        urls = self.assertOnlyAbsoluteUrls(html)
        attachment = self.env["ir.attachment"].search([("name", "=", "team photo.png")])
        self.assertIn(f"{self.base_url}{attachment.image_src}", urls)
        self.assertIn(f"{self.base_url}/web/image/mass_mailing.s_cover_default_image", urls)
        self.assertTrue(any(url.startswith(f"{self.base_url}/web_editor/font_to_img/") for url in urls))
        self.assertTrue(any(url.startswith(f"{self.base_url}/mass_mailing/static/") for url in urls))
        # Odoo's unsubscribe link is the ESP's; the preview goes first, hidden, as Odoo sends it.
        self.assertIn("http://$UNSUB$", urls)
        self.assertNotIn("unsubscribe_from_list", html)
        self.assertLess(html.index("Our spring news"), html.index("Thank you for joining us"))

        text = campaign["plainTextContent"]
        self.assertCleanPlainText(text)
        self.assertIn("Thank you for joining us!", text)
        self.assertNotIn("Our spring news", text)
        self.assertNotIn("font-weight", text)  # the theme's <style>
        self.assertIn("Our team [", text)  # an image link is named by its image's alternative text
        # An icon link with no name is left out (no "[3]" with nothing before it); headings stay headings.
        self.assertNotIn("facebook", text)
        self.assertIn("**Catchy Headline**", text)
        self.assertIn("**A Punchy Headline**", text)

    def test_view_online_link_is_refused(self):
        """Odoo's "View Online" link only works in Odoo's own send (a token per recipient)."""
        mailing = self._mailing(self._snippet("mass_mailing.s_mail_block_header_view") + self._theme("default"))
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertIn("View Online", str(refused.exception))
        self.assertFalse(self.sandbox.state()["campaigns"])

    def test_links_are_made_absolute_the_way_odoo_does(self):
        html = ('<a href="/shop">Shop</a><a href="#top">Top</a><a href="mailto:a@b.c">Mail</a>'
                '<img src="data:image/png;base64,AAAA"/><a href="//cdn.example.com/x.png">CDN</a>'
                '<td background="/bg.png" style="background-image: url(&quot;/bg2.png&quot;)">x</td>'
                '<a href="http://$UNSUB$">Unsubscribe</a><img src="img/logo.png"/>')
        result = make_links_absolute(self.env, html, "https://shop.example.com")
        self.assertEqual(result, (
            '<a href="https://shop.example.com/shop">Shop</a><a href="#top">Top</a><a href="mailto:a@b.c">Mail</a>'
            '<img src="data:image/png;base64,AAAA"/><a href="https://cdn.example.com/x.png">CDN</a>'
            '<td background="https://shop.example.com/bg.png" '
            'style="background-image: url(&quot;https://shop.example.com/bg2.png&quot;)">x</td>'
            '<a href="http://$UNSUB$">Unsubscribe</a><img src="https://shop.example.com/img/logo.png"/>'))
        self.assertFalse(is_local_url("@FIRSTNAME@"))
        self.assertFalse(is_local_url("https://example.com"))
        self.assertTrue(is_local_url("../x.png"))

    def test_plain_text_has_no_mso_html_nor_empty_references(self):
        html = (f'<style>p {{ color: red; }}</style>{MSO_OPEN}<div><h2>Title</h2><p>Read <a href="https://ex.com/a">'
                '<strong>our</strong> news</a>.</p><p><a href="https://ex.com/icon"><span class="fa fa-x"></span></a>'
                '<a href="https://ex.com/pic"><img src="https://ex.com/p.png"/></a><img src="https://ex.com/q.png"/>'
                '<a href="#">Nowhere</a><a href="http://$UNSUB$">Unsubscribe</a></p>'
                f'<div style="display:none">hidden preview</div></div>{MSO_CLOSE}')
        text = plain_text(html, "Unsubscribe")
        self.assertCleanPlainText(text)
        self.assertEqual(text, "**Title**\nRead our news [1].\nNowhere\n\n[1] https://ex.com/a\n\n"
                               "Unsubscribe: http://$UNSUB$")

    # -- placeholders -----------------------------------------------------------------------------------------

    def test_placeholders_become_the_esp_tags_and_the_sandbox_personalizes_them(self):
        body = (
            '<div><p>Dear <t t-out="object.first_name"/>,</p>'
            '<p>Full name: <span style="color: red;" t-out="object.name or \'\'" data-oe-t-inline="true" '
            'contenteditable="false"></span></p>'
            "<p>Written to <t t-out=\"object.email\">you</t>, also <t t-out=\"object.name or ''\"/>.</p>"
            '<p><a href="https://example.com/offer">Offer</a></p></div>'
        )
        mailing = self._mailing(body, subject="News for {{ object.first_name }}",
                                preview="Hello {{ object.first_name }}")
        mailing.action_esp_sync_campaign()
        campaign = self._remote_campaign(mailing)
        self.assertEqual(campaign["subject"], "News for @FIRSTNAME@")
        self.assertIn("Dear @FIRSTNAME@,", campaign["htmlContent"])
        self.assertIn('<span style="color: red;">@FULLNAME@</span>', campaign["htmlContent"])
        self.assertNotIn("t-out", campaign["htmlContent"])
        self.assertIn("Dear @FIRSTNAME@,", campaign["plainTextContent"])
        # The campaign as Ada receives it: the ESP fills the tags from the data fields the list sync exported.
        ada = self.sandbox.personalized_campaign(int(mailing.esp_campaign_remote_id), "ada@example.com")
        self.assertEqual(ada["subject"], "News for Ada")
        self.assertIn("Dear Ada,", ada["htmlContent"])
        self.assertIn('<span style="color: red;">Ada Lovelace</span>', ada["htmlContent"])
        self.assertIn("Written to ada@example.com, also Ada Lovelace.", ada["htmlContent"])
        self.assertIn("Hello Ada", ada["htmlContent"])
        self.assertIn("Full name: Ada Lovelace", ada["plainTextContent"])

    def test_unmapped_placeholder_is_refused_naming_it_at_sync_test_and_send(self):
        mailing = self._mailing('<p>Hello <t t-out="object.company_name"/></p>',
                                esp_test_address="qa@example.com")
        for action in (mailing.action_esp_sync_campaign, mailing.action_test, mailing.action_launch):
            with self.assertRaises(UserError) as refused:
                action()
            message = str(refused.exception)
            self.assertIn("object.company_name", message)
            self.assertIn("Field Mapping", message)
        self.assertEqual(mailing.state, "draft")
        self.assertFalse(self.sandbox.state()["campaigns"])
        # Mapped, it goes.
        company = self.env["esp.data.field"].with_context(default_account_id=self.sandbox_account.id).name_create(
            "COMPANY")[0]
        self.env["esp.field.mapping"].create({"account_id": self.sandbox_account.id, "data_field_id": company,
                                              "source": "company_name"})
        mailing.action_esp_sync_campaign()
        self.assertIn("Hello @COMPANY@", self._remote_campaign(mailing)["htmlContent"])

    def test_what_the_esp_cannot_do_is_refused_naming_each(self):
        body = ('<p><t t-out="object.partner_id.name"/> <t t-out="object.name.upper()"/> '
                '<span t-if="object.opt_out">out</span> <a t-att-href="object.email">me</a> '
                '<t t-out="object.tag_ids"/></p>')
        mailing = self._mailing(body, subject="{{ object.name + '!' }}")
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        message = str(refused.exception)
        for placeholder in ('t-out="object.partner_id.name"', 't-out="object.name.upper()"', 't-if="object.opt_out"',
                            't-att-href="object.email"', 't-out="object.tag_ids"', "{{ object.name + '!' }}"):
            self.assertIn(placeholder, message)
        self.assertFalse(self.sandbox.state()["campaigns"])

    def test_a_placeholder_default_must_be_the_data_field_default(self):
        mailing = self._mailing('<p>Dear <t t-out="object.first_name">friend</t></p>',
                                subject="For {{ object.first_name ||| friend }}")
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertIn("“friend” the default value of FIRSTNAME", str(refused.exception))
        # The data field's default at the ESP is the one the placeholder asks for: nothing is lost.
        self.sandbox_account.data_field_ids.filtered(lambda field: field.name == "FIRSTNAME").default_value = "friend"
        mailing.action_esp_sync_campaign()
        campaign = self._remote_campaign(mailing)
        self.assertEqual(campaign["subject"], "For @FIRSTNAME@")
        self.assertIn("Dear @FIRSTNAME@", campaign["htmlContent"])

    def test_campaign_master_placeholders_are_refused_without_a_guess(self):
        account = self._create_campaign_master_account()
        account.action_test_connection()
        mailing = self._mailing('<p>Dear <t t-out="object.first_name"/></p>', esp_account_id=account.id)
        with self.assertRaises(UserError) as refused:
            EspContent(mailing).check()
        self.assertIn('t-out="object.first_name"', str(refused.exception))
        self.assertIn("no personalization syntax", str(refused.exception))
        # Without placeholders the same body goes as it is.
        mailing.body_html = "<p>Dear reader</p>"
        EspContent(mailing).check()

    def test_content_keeps_the_campaign_fields(self):
        mailing = self._mailing("<p>Hi</p>", subject="Plain {{ object.email }}")
        content = CampaignSync(mailing).content(None)
        self.assertEqual(content["subject"], "Plain @EMAIL@")
        self.assertTrue(content["name"].startswith("Plain {{ object.email }} [odoo "))
