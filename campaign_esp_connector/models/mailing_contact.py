from odoo import fields, models


class MailingContact(models.Model):
    _inherit = "mailing.contact"

    # Same definition as mass_mailing_sms, so both modules can be installed together.
    mobile = fields.Char(string="Mobile")
