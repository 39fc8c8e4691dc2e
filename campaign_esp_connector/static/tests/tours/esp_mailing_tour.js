/** @odoo-module **/
// A marketing user writes a mailing to a connected list: its ESP tab fills itself in; Sync with ESP, Test (Odoo's
// test dialog, sent by the ESP), Send. After the cron sent it through the ESP (tests/test_tours.py), the mailing is
// Sent, and its ESP Statistics, recipient activity and a list built from engagement are one click away.

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { espBasicThemeThenEspTab, espNewMailing, espSyncWithEsp } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_mailing_send_tour", {
    url: "/odoo",
    steps: () => [
        ...espNewMailing("Tour Campaign"),
        {
            content: "Send it to the connected list",
            trigger: '.o_field_widget[name="contact_list_ids"] input',
            run: "edit Tour Newsletter",
        },
        {
            trigger: '.o-autocomplete--dropdown-item:contains("Tour Newsletter")',
            run: "click",
        },
        ...espBasicThemeThenEspTab(),
        {
            content: "The mailing goes through the ESP account of its list",
            trigger: '.o_field_widget[name="esp_account_id"] input:value("Tour sandbox")',
        },
        {
            content: "Give a test address",
            trigger: '.o_field_widget[name="esp_test_address"] input',
            run: "edit proof@example.com",
        },
        ...stepUtils.saveForm(),
        ...espSyncWithEsp(),
        {
            trigger: '.o_field_widget[name="esp_campaign_state"]:contains("Synced")',
        },
        {
            content: "Send a test",
            trigger: '.o_form_statusbar button[name="action_test"]',
            run: "click",
        },
        {
            content: "Odoo's test dialog starts from the ESP tab's test addresses",
            trigger: '.modal .o_field_widget[name="email_to"] textarea:value("proof@example.com")',
        },
        {
            trigger: '.modal .o_esp_test_note:contains("The ESP")',
        },
        {
            content: "The ESP sends it",
            trigger: '.modal button[name="send_mail_test"]',
            run: "click",
        },
        {
            trigger: '.o_notification:contains("Test sent by the ESP to proof@example.com")',
        },
        {
            content: "The dialog is closed",
            trigger: 'body:not(:has(.modal))',
        },
        {
            content: "Send",
            trigger: '.o_form_statusbar button[name="action_launch"]',
            run: "click",
        },
        {
            content: "Confirm",
            trigger: '.modal .modal-footer button.btn-primary',
            run: "click",
        },
        {
            content: "The mailing waits for the ESP cron",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("In Queue")',
        },
        {
            content: "The form says it follows the send through the ESP",
            trigger: '.o_esp_send_progress:contains("Sent through the ESP") .o_field_widget[name="esp_campaign_state"]',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_mailing_results_tour", {
    steps: () => [
        {
            content: "The ESP sent it",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Sent")',
        },
        {
            content: "Open its ESP statistics",
            trigger: '.o_notebook .nav-link[name="esp_statistics"]',
            run: "click",
        },
        {
            content: "Refresh them from the ESP",
            trigger: 'button[name="action_esp_refresh_statistics"]',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="esp_stat_sent"]:contains("5")',
        },
        {
            content: "Read the recipients' activity",
            trigger: 'button[name="action_esp_import_activity"]',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="esp_activity_count"]:contains("5")',
        },
        {
            content: "Open the recipients",
            trigger: 'button[name="action_view_esp_activity"]',
            run: "click",
        },
        {
            content: "One row per recipient",
            trigger: ".o_list_view .o_data_row:eq(4)",
        },
        {
            trigger: '.o_breadcrumb .breadcrumb-item a:contains("Tour Campaign")',
            run: "click",
        },
        {
            trigger: '.o_notebook .nav-link[name="esp_statistics"]',
            run: "click",
        },
        {
            content: "Create the next list from engagement",
            trigger: 'button:contains("Create List from Engagement")',
            run: "click",
        },
        {
            trigger: '.modal .o_field_widget[name="list_name"] input',
            run: "edit Tour Openers",
        },
        {
            content: "Create it",
            trigger: '.modal button[name="action_create_list"]',
            run: "click",
        },
        {
            content: "The new list is open",
            trigger: '.o_breadcrumb .active:contains("Tour Openers")',
        },
    ],
});
