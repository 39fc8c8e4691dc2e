/** @odoo-module **/
// An ESP manager opens a contact who unsubscribed at the ESP: its ESP tab says so per list, and at the
// contact's request they re-subscribe it there (after a confirmation), reading what the ESP answered.

import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("campaign_esp_connector_contact_tour", {
    steps: () => [
        {
            content: "The ESP tab shows the list's book and that the contact is opted out there",
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="esp_subscription_ids"] .o_data_row:contains("Tour Readers"):contains("Opted Out")',
        },
        {
            content: "Mark this page: a reload would lose the mark",
            trigger: '.o_field_widget[name="esp_subscription_ids"] .o_data_row:contains("Unsubscribed")',
            run() {
                window.espContactTourNotReloaded = true;
            },
        },
        {
            content: "Re-subscribe at the ESP",
            trigger: '.o_field_widget[name="esp_subscription_ids"] button[name="action_esp_resubscribe"]',
            run: "click",
        },
        {
            content: "Confirm: only at the contact's request",
            trigger: '.modal:contains("Only do this at their request") .modal-footer button.btn-primary',
            run: "click",
        },
        {
            content: "The ESP's answer is reported",
            trigger: '.o_notification:contains("The ESP emailed ann@example.com to confirm")',
        },
        {
            content: "The ESP row shows the ESP's answer at once, without a page reload",
            trigger: '.o_field_widget[name="esp_subscription_ids"] .o_data_row:contains("Tour Readers"):contains("Confirmation email sent by the ESP")',
            run() {
                if (!window.espContactTourNotReloaded) {
                    throw new Error("the page was reloaded to show the ESP's answer");
                }
            },
        },
        {
            content: "The chatter records who asked and what the ESP answered",
            trigger: '.o-mail-Message:contains("asked the ESP to re-subscribe this contact"):contains("confirmation email")',
        },
        {
            content: "The contact's activity is one click away",
            trigger: '.oe_stat_button[name="action_view_esp_activity"]',
        },
    ],
});
