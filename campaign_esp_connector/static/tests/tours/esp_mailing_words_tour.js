/** @odoo-module **/
// What a person reads on mailings and lists is true (issue #25; tests/test_tours.py): an Odoo-sent mailing's ESP
// tab says why Odoo sends it, an ESP mailing shows no Replied (no ESP reports replies), and a connected list's
// kanban card shows its ESP account and sync state.

import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("campaign_esp_connector_odoo_mailing_esp_tab_tour", {
    steps: () => [
        {
            content: "Open the mailing's ESP tab",
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            content: "It says why Odoo's mail server sends it",
            trigger: '.o_esp_odoo_sends:contains("none of its mailing lists is connected to an ESP account")',
        },
        {
            content: "An Odoo mailing keeps Odoo's Replied",
            trigger: '.o_form_view .oe_stat_button[name="action_view_replied"]',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_esp_mailing_no_replied_tour", {
    steps: () => [
        {
            content: "The ESP sent it",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Sent")',
        },
        {
            content: "Its ESP figures are there",
            trigger: '.o_form_view .oe_stat_button[name="action_view_opened"]',
        },
        {
            content: "No Replied: no ESP reports replies",
            trigger: '.o_form_view:not(:has(.oe_stat_button[name="action_view_replied"]))',
        },
        {
            content: "The ESP tab gives no reason for Odoo to send it",
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            trigger: '.o_notebook:not(:has(.o_esp_odoo_sends)) [name="esp_account_id"]:contains("Tour sandbox")',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_list_kanban_badge_tour", {
    steps: () => [
        {
            content: "A connected list's card shows its ESP account and sync state",
            trigger: '.o_kanban_record:contains("Tour Words") .o_esp_kanban_badge:contains("Tour sandbox"):contains("Up to Date")',
        },
        {
            content: "A list that is not connected shows no ESP badge",
            trigger: '.o_kanban_record:contains("Tour Odoo Leads"):not(:has(.o_esp_kanban_badge))',
        },
    ],
});
