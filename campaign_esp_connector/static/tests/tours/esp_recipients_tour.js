/** @odoo-module **/
// A marketing user writes a mailing to a connected list and an unconnected one: the form says at once that the
// lists are not all sent the same way, the ESP tab names the list and what to do, and Send is refused with the
// reason (tests/test_tours.py checks that nothing was sent).

import { registry } from "@web/core/registry";
import { espBasicThemeThenEspTab, espNewMailing } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_recipients_tour", {
    url: "/odoo",
    steps: () => [
        ...espNewMailing("Tour Mixed Lists"),
        {
            content: "Send it to the connected list",
            trigger: '.o_field_widget[name="contact_list_ids"] input',
            run: "edit Tour Newsletter",
        },
        {
            trigger: '.o-autocomplete--dropdown-item:contains("Tour Newsletter")',
            run: "click",
        },
        {
            content: "and to a list no ESP knows",
            trigger: '.o_field_widget[name="contact_list_ids"] .o_field_many2many_selection input',
            run: "edit Tour Leads",
        },
        {
            trigger: '.o-autocomplete--dropdown-item:contains("Tour Leads")',
            run: "click",
        },
        {
            content: "The form says at once that a decision is needed",
            trigger: '.o_esp_recipients_alert:contains("the mailing cannot be sent until you decide")',
        },
        ...espBasicThemeThenEspTab(),
        {
            content: "The ESP tab names the list and the account",
            trigger: '.o_esp_recipients_warning:contains("Tour Leads: not connected to an ESP account"):contains("Tour sandbox")',
        },
        {
            content: "The way out is offered",
            trigger: '.o_esp_recipients_warning .o_field_widget[name="esp_send_through_odoo"]',
        },
        {
            content: "Try to send anyway",
            trigger: '.o_form_statusbar button[name="action_launch"]',
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "Refused, with the reason",
            trigger: '.modal-body:contains("“Tour Mixed Lists” cannot be sent yet."):contains("Tour Leads: not connected to an ESP account")',
        },
        {
            content: "Close the refusal",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "The mailing is still a draft",
            trigger: 'body:not(:has(.modal)) .o_statusbar_status button.o_arrow_button_current:contains("Draft")',
        },
    ],
});
