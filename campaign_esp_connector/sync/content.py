"""What a mailing's subject and body become at the ESP: what Odoo's own send does to them, done before they
leave Odoo, in the ESP's terms.

- The preview text goes first in the body (``mail.render.mixin._prepend_preview``, as ``_action_send_mail``).
- Odoo's placeholders (``<t t-out="object.name"/>`` in the body, ``{{ object.name }}`` in the subject and the
  preview) become the provider's personalization tags for the contact values the account maps to data fields.
  A placeholder the ESP cannot fill is refused, named, never sent as it is.
- Local links and images become absolute with the mailing's base URL (``web.base.url``), by Odoo's own
  ``_replace_local_links``, then for what that leaves: relative paths not starting with "/", single-quoted
  attributes, ``url()`` in ``<style>`` elements.
- The plain-text part comes from the final HTML without what only the HTML needs (MSO conditional comments,
  styles, the hidden preview) and without references to links that have no text.
"""

import html as html_lib
import re
import urllib.parse

import lxml.html

from odoo.exceptions import UserError
from odoo.tools import html2plaintext
from odoo.tools.rendering_tools import parse_inline_template

from .. import providers

UNSUBSCRIBE_TOKEN = "$UNSUB$"
UNSUBSCRIBE_URL = "http://$UNSUB$"

# Contact values a placeholder may name (``object.<path>`` on mailing.contact), as the field mapping's sources
# (``esp.field.mapping.source``): the ESP knows a contact's value only through a mapped data field.
PLACEHOLDER_SOURCES = {
    "name": "name",
    "first_name": "first_name",
    "last_name": "last_name",
    "company_name": "company_name",
    "country_id": "country",
    "country_id.name": "country",
    "mobile": "mobile",
}
# The address the ESP sends to: every ESP knows it without a mapping.
EMAIL_PLACEHOLDERS = frozenset({"email", "email_normalized"})

# What an ESP tag can stand for: ``object.<field>`` (one relation deep for the country), optionally followed by
# ``or 'default'``.
_EXPRESSION = re.compile(
    r"""^object\.(?P<path>\w+(?:\.\w+)?)(?:\s+or\s+(?P<quote>["'])(?P<default>[^"']*)(?P=quote))?$"""
)
# An element QWeb fills from an expression, as the editor's dynamic placeholder and Odoo's preview write it:
# ``<t t-out="object.name">default</t>``, ``<span t-out="object.name"/>``, attributes in any order (the editor
# adds ``data-oe-t-inline``, ``contenteditable``). Odoo's own regex rendering (``_render_template_qweb_regex``)
# reads the same shapes.
_OUT_ELEMENT = re.compile(
    r"""<(?P<tag>[\w:-]+)(?P<before>(?:\s[^>]*?)?)\s(?:t-out|t-esc)\s*=\s*(?P<q>["'])(?P<expr>.*?)(?P=q)"""
    r"""(?P<after>[^>]*?)(?:/>|>(?P<default>[^<]*)</(?P=tag)\s*>)""",
    re.DOTALL,
)
# Any QWeb directive left once placeholders are replaced (t-if, t-att-href, t-field, a t-out with markup inside).
_QWEB_ATTRIBUTE = re.compile(r"""<[\w:-]+[^>]*?\s(?P<name>t-[\w-]+)\s*=\s*(?P<q>["'])(?P<value>.*?)(?P=q)""",
                             re.DOTALL)
# What the editor adds to a placeholder's element for itself, dropped with the placeholder.
_EDITOR_ATTRIBUTE = re.compile(r"""\s(?:data-oe-t-[\w-]+|data-oe-demo|contenteditable)(?:\s*=\s*(["']).*?\1)?""",
                               re.DOTALL)
# Links and images ``_replace_local_links`` leaves relative: any quoting, any relative form, ``url()`` anywhere.
_URL_ATTRIBUTE = re.compile(r"""(?P<pre>\s(?:src|href|background|poster)\s*=\s*)(?P<q>["'])(?P<url>.*?)(?P=q)""",
                            re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""(?P<pre>\burl\(\s*)(?P<q>&quot;|&\#34;|&\#39;|["']?)(?P<url>[^"')&]*?)(?P=q)(?P<post>\s*\))""",
                      re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Elements that end a line in plain text (html2plaintext ends lines only at </p>, <br> and <tr>).
_BLOCKS = ("div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "table", "tr", "blockquote", "hr", "section")
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)


def is_local_url(url):
    """True for a link Odoo would serve itself, written without its host (``/web/image/12``, ``img/logo.png``),
    False for absolute links, anchors, ``mailto:``, ``data:``, ``cid:`` and the ESP's own tokens."""
    url = (url or "").strip()
    return bool(url) and not (url.startswith(("#", "$", "@", "{", "%")) or _SCHEME.match(url))


def make_links_absolute(env, html, base_url):
    """``html`` with every local link, image and ``url()`` absolute on ``base_url``, as Odoo's send makes them.

    Odoo's ``_replace_local_links`` goes first; what it leaves (it only reads double-quoted paths starting
    with one "/", and ``url()`` in style attributes) is joined here the same way.
    """
    html = env["mail.render.mixin"]._replace_local_links(html, base_url)
    base = base_url.rstrip("/") + "/"
    scheme = urllib.parse.urlsplit(base).scheme or "https"

    def absolute(url):
        stripped = html_lib.unescape(url.strip())
        if stripped.startswith("//"):
            return f"{scheme}:{stripped}"
        return urllib.parse.urljoin(base, stripped)

    def attribute(match):
        if not is_local_url(match["url"]) and not match["url"].strip().startswith("//"):
            return match[0]
        return f"{match['pre']}{match['q']}{html_lib.escape(absolute(match['url']), quote=True)}{match['q']}"

    def css(match):
        if not is_local_url(match["url"]) and not match["url"].strip().startswith("//"):
            return match[0]
        return f"{match['pre']}{match['q']}{absolute(match['url'])}{match['q']}{match['post']}"

    return _CSS_URL.sub(css, _URL_ATTRIBUTE.sub(attribute, html))


def plain_text(html, unsubscribe_label):
    """The plain-text part of ``html``: its text, one reference per link that has a text, the unsubscribe line.

    Odoo's ``html2plaintext`` does the text; before it, what a plain-text reader must not see goes: comments
    (the editor's ``<!--[if mso]><table …><![endif]-->`` blocks), styles, hidden elements (the preview), images
    (their alternative text stays), links without a text (icons, images) and the unsubscribe link, which
    becomes the last line.
    """
    if not (html or "").strip():
        return f"{unsubscribe_label}: {UNSUBSCRIBE_URL}"
    tree = lxml.html.document_fromstring(html)
    for comment in tree.xpath("//comment()"):
        comment.drop_tree()
    for element in tree.xpath("//style | //script | //head | //title"):
        element.drop_tree()
    for element in tree.xpath("//*[@style]"):
        if _HIDDEN.search(element.get("style")):
            element.drop_tree()
    references = []
    for link in list(tree.iter("a")):
        href = (link.get("href") or "").strip()
        label = " ".join(link.text_content().split())
        if href and not href.startswith("#"):
            # An icon or image link is named by its image's alternative text or the link's own label.
            label = label or " ".join(
                img.get("alt").strip() for img in link.iter("img") if (img.get("alt") or "").strip()
            ) or (link.get("aria-label") or link.get("title") or "").strip()
        else:
            href = ""
        if UNSUBSCRIBE_TOKEN in href or not label:
            link.drop_tree()
            continue
        for child in list(link):
            child.drop_tree()
        if href and href != label:
            references.append(href)
            label = f"{label} [{len(references)}]"
        link.text = label
        link.drop_tag()
    for image in list(tree.iter("img")):
        alt = (image.get("alt") or "").strip()
        image.attrib.clear()
        image.tag, image.text = "span", alt
    for element in tree.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
    # html2plaintext marks headings and bold text only when the tag has no attribute, and around the spaces the
    # editor leaves inside.
    for element in list(tree.iter("h1", "h2", "h3", "strong", "b", "em")):
        text = " ".join(element.text_content().split())
        element.attrib.clear()
        for child in list(element):
            element.remove(child)  # its text is in ``text``; html2plaintext would turn the tag into a space
        element.text = text
    text = html2plaintext(lxml.html.tostring(tree, encoding="unicode"), include_references=False)
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    if references:
        text += "\n\n" + "\n".join(f"[{index}] {url}" for index, url in enumerate(references, start=1))
    return f"{text}\n\n{unsubscribe_label}: {UNSUBSCRIBE_URL}".lstrip()


class EspContent:
    """A mailing's subject and body as its ESP account sends them; ``problems`` collects the placeholders it
    cannot personalize, and :meth:`check` refuses them all in one message."""

    def __init__(self, mailing):
        self.mailing = mailing
        self.env = mailing.env
        self.account = mailing.esp_account_id.sudo()
        self.provider = providers.get_provider_class(self.account.provider)
        self.data_fields = {}
        for mapping in self.account.field_mapping_ids.sorted(lambda mapping: (mapping.sequence, mapping.id)):
            if mapping.data_field_id.active:
                self.data_fields.setdefault(mapping.source, mapping.data_field_id)
        # A provider with a personalization syntax has a tag for the address at least (every ESP knows it).
        email_field = self.provider.personalization_email_field
        self.personalizes = bool(email_field and self.provider.personalization_tag(email_field))
        self.problems = []

    # -- what goes to the ESP ----------------------------------------------------------------------------------

    def subject(self):
        """The subject with ``{{ object.<field> }}`` (``||| default`` too) as personalization tags."""
        parts = []
        for literal, expression, default in parse_inline_template(self.mailing.subject.strip()):
            parts.append(literal)
            if expression:
                parts.append(self._tag("{{ %s }}" % expression, expression, default) or "")
        return "".join(parts)

    def body_html(self):
        """The body as Odoo's send writes it (preview first, placeholders filled, absolute links), placeholders
        as personalization tags."""
        mailing = self.mailing
        html = str(mailing._prepend_preview(mailing.body_html or "", mailing.preview) or "")
        html = self._personalize_html(html)
        self._check_links(html)
        return make_links_absolute(self.env, html, mailing.get_base_url())

    def sends_body(self):
        """False when the ESP sends its template instead of the body (the engine reads the template's HTML)."""
        return not (self.mailing.esp_template_id and not self.provider.templates_applied_by_provider)

    def check(self):
        """Refuse now, before any call, a subject or body the ESP cannot personalize."""
        self.subject()
        if self.sends_body():
            self._check_links(self._personalize_html(str(
                self.mailing._prepend_preview(self.mailing.body_html or "", self.mailing.preview) or "")))
        self.raise_problems()

    def raise_problems(self):
        if self.problems:
            problems = list(dict.fromkeys(self.problems))
            raise UserError(self.env._(
                "The ESP cannot send the mailing as it is:\n%(problems)s",
                problems="\n".join(f"- {problem}" for problem in problems)))

    def _check_links(self, html):
        """Odoo's "View Online" link (``/view``) becomes each recipient's own page only in Odoo's send (a token per
        recipient); through the ESP it would open Odoo's login page."""
        base_url = self.mailing.get_base_url().rstrip("/")
        for match in _URL_ATTRIBUTE.finditer(html):
            if match["url"].strip() in ("/view", f"{base_url}/view"):
                self.problems.append(self.env._(
                    "“View Online” (a link to /view): only Odoo's own send gives each recipient a page of the "
                    "mailing; remove the link from the body."))
                return

    # -- placeholders ------------------------------------------------------------------------------------------

    def _personalize_html(self, html):
        def replace(match):
            expression = html_lib.unescape(match["expr"]).strip()
            default = html_lib.unescape(match["default"] or "").strip()
            tag = self._tag(f't-out="{expression}"', expression, default)
            if tag is None:
                return match[0]
            if match["tag"].lower() == "t":
                return html_lib.escape(tag)
            attributes = _EDITOR_ATTRIBUTE.sub("", f"{match['before']}{match['after']}").rstrip()
            return f"<{match['tag']}{attributes}>{html_lib.escape(tag)}</{match['tag']}>"

        html = _OUT_ELEMENT.sub(replace, html)
        _ = self.env._
        for match in _QWEB_ATTRIBUTE.finditer(html):
            if match["name"] in ("t-out", "t-esc") and _OUT_ELEMENT.match(html, match.start()):
                continue  # already refused by _tag
            # Named apart from the message: Babel's extractor cannot read an f-string among its arguments.
            placeholder = f'{match["name"]}="{html_lib.unescape(match["value"])}"'
            self.problems.append(_(
                "“%(placeholder)s”: the ESP only shows a contact's value (object.<field>, optionally with "
                "or 'default'), without any markup inside; remove it or write it that way.",
                placeholder=placeholder))
        return html

    def _tag(self, placeholder, expression, default=""):
        """The provider's tag for one placeholder, or ``None`` with the reason in ``problems``.

        :param placeholder: the placeholder as the person wrote it, to name it
        :param expression: the QWeb / inline template expression (``object.name or 'friend'``)
        :param default: what the placeholder shows when the contact has no value ('' for none)
        """
        _ = self.env._
        label = self.account._get_provider_label()
        match = _EXPRESSION.match(expression.strip())
        if not match:
            self.problems.append(_(
                "“%(placeholder)s”: the ESP can only show a contact's value (object.<field>, optionally followed by "
                "or 'default'): remove the placeholder or write it that way.", placeholder=placeholder))
            return None
        path, default = match["path"], (match["default"] or default or "").strip()
        if path in EMAIL_PLACEHOLDERS:
            field = self.provider.personalization_email_field
            data_field = None
        elif path in PLACEHOLDER_SOURCES:
            data_field = self.data_fields.get(PLACEHOLDER_SOURCES[path])
            field = data_field.name if data_field else None
            if not data_field and self.personalizes:
                self.problems.append(_(
                    "“%(placeholder)s”: the contact's %(value)s goes to no data field of the ESP account "
                    "“%(account)s”: map it in the account's Field Mapping tab, or remove the placeholder.",
                    placeholder=placeholder, value=path, account=self.account.name))
                return None
        else:
            self.problems.append(_(
                "“%(placeholder)s”: %(value)s is not a contact value the ESP receives (name, first_name, last_name, "
                "company_name, country_id, mobile, email): map another value or remove the placeholder.",
                placeholder=placeholder, value=path))
            return None
        tag = self.provider.personalization_tag(field) if field else None
        if tag is None:
            self.problems.append(_(
                "“%(placeholder)s”: Odoo knows no personalization syntax of %(provider)s, so it cannot show a "
                "contact's value there: remove the placeholder.", placeholder=placeholder, provider=label))
            return None
        if default and data_field and default != (data_field.default_value or ""):
            self.problems.append(_(
                "“%(placeholder)s”: %(provider)s shows a data field's own default value, not one per placeholder: "
                "make “%(default)s” the default value of %(field)s at the ESP (then Synchronize the account), or "
                "remove the default from the placeholder.",
                placeholder=placeholder, provider=label, default=default, field=data_field.name))
            return None
        return tag
