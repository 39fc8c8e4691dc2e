"""18.0.1.5.0: one remote ESP account is one Odoo account.

Before, a second Odoo account on the same remote account (another API user of one dotdigital account) was
accepted, and both then offered, synced and imported the same books and campaigns. Each tested account now
stores its remote account's key; of two on one remote account the first is kept and the others are archived, in
error, with the reason in their chatter and the kept one's (nothing is deleted).
"""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["esp.account"]._esp_disable_same_remote_accounts()
