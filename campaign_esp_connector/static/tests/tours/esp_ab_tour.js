/** @odoo-module **/
// A marketing user turns A/B testing on for a mailing to a connected list: the ESP tab says what the ESP cannot
// do yet (one version), then, with an alternative version, that the ESP sends the versions to the test share
// and the winner after the test period (no "Send Final On" by Odoo). Send sends both versions as one split
// test. After the crons (tests/test_tours.py), the first version shows the campaign, Sent, and the ESP's winner.

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { espNewMailing } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_ab_send_tour", {
    url: "/odoo",
    steps: () => [
        ...espNewMailing("Tour A/B"),
        {
            content: "Send it to the connected list",
            trigger: '.o_field_widget[name="contact_list_ids"] input',
            run: "edit Tour AB Readers",
        },
        {
            trigger: '.o-autocomplete--dropdown-item:contains("Tour AB Readers")',
            run: "click",
        },
        {
            content: "Pick a theme for the body",
            trigger: ":iframe #basic",
            run: "click",
        },
        {
            trigger: ":iframe html:not(:has(.o_mail_theme_selector_new))",
        },
        {
            content: "Open the A/B Tests tab",
            trigger: '.o_notebook .nav-link[name="ab_testing"]',
            run: "click",
        },
        {
            content: "Turn A/B testing on",
            trigger: '.o_field_widget[name="ab_testing_enabled"] input',
            run: "click",
        },
        {
            content: "Odoo's Send Final On gives way to the end of the ESP's test",
            trigger: '.o_form_label:contains("Test Ends On")',
        },
        {
            trigger: '.o_esp_ab_note:contains("Odoo sends no final mailing")',
        },
        {
            content: "Open the ESP tab",
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            content: "The ESP tab says a split test needs another version",
            trigger: '.o_esp_ab_refusal:contains("two versions at least")',
        },
        ...stepUtils.saveForm(),
        {
            trigger: '.o_notebook .nav-link[name="ab_testing"]',
            run: "click",
        },
        {
            content: "Create an alternative version",
            trigger: '.o_notebook button.btn-primary[name="action_duplicate"]',
            run: "click",
        },
        {
            content: "The alternative version is open",
            trigger: '.o_breadcrumb .breadcrumb-item:contains("Tour A/B")',
        },
        {
            trigger: '.o_notebook .nav-link[name="ab_testing"]',
            run: "click",
        },
        {
            content: "The A/B test has two versions",
            trigger: '#mailing_form_ab_buttons button[name="action_compare_versions"]',
        },
        {
            trigger: '.o_field_widget[name="subject"] input',
            run: "edit Tour A/B version B",
        },
        ...stepUtils.saveForm(),
        {
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            content: "The ESP tab explains what the ESP does with the A/B test",
            trigger: '.o_esp_ab_summary:contains("Odoo sends no final mailing: the ESP picks and sends the winner after the test period")',
        },
        {
            trigger: '.o_esp_ab_summary:contains("20 % in all")',
        },
        {
            content: "Send",
            trigger: '.o_form_statusbar button[name="action_launch"]',
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "Both versions wait for the ESP cron",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("In Queue")',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_ab_results_tour", {
    steps: () => [
        {
            content: "The ESP sent the A/B test",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Sent")',
        },
        {
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            content: "The split test campaign at the ESP",
            trigger: '.o_field_widget[name="esp_campaign_state"]:contains("Sent")',
        },
        {
            trigger: '.o_field_widget[name="esp_campaign_remote_id"]:not(:empty)',
        },
        {
            content: "This version's result, as the ESP reports it",
            trigger: '.o_field_widget[name="esp_ab_version"]:contains("A")',
        },
        {
            trigger: '.o_field_widget[name="esp_ab_winner"]',
        },
        {
            content: "Odoo's A/B tab names the winner: the ESP sent it",
            trigger: '.o_notebook .nav-link[name="ab_testing"]',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="ab_testing_description"]:contains("winner")',
        },
    ],
});
