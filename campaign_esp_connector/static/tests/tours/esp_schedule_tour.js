/** @odoo-module **/
// A scheduled ESP mailing, as a person sees it: waiting in Odoo for its hand-over it says until when, and Cancel
// puts it back to draft; once the ESP holds the send (tests/test_tours.py hands it over between the two tours),
// it is locked with the reason, and Cancel says what to do instead.

import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("campaign_esp_connector_schedule_waiting_tour", {
    steps: () => [
        {
            content: "The mailing waits in Odoo for its hand-over, and says so",
            trigger: '.o_esp_handover:contains("stays in Odoo until")',
        },
        {
            content: "Its subject can still be changed",
            trigger: '.o_field_widget[name="subject"]:not(.o_readonly_modifier) input',
        },
        {
            content: "Cancel it",
            trigger: '.o_form_statusbar button[name="action_cancel"]',
            run: "click",
        },
        {
            content: "It is a draft again",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Draft")',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_schedule_locked_tour", {
    steps: () => [
        {
            content: "The ESP holds the send: the form says why it is locked",
            trigger: '.o_esp_send_locked:contains("The ESP holds this scheduled send")',
        },
        {
            content: "The subject is read-only",
            trigger: '.o_field_widget[name="subject"].o_readonly_modifier',
        },
        {
            content: "So are the lists",
            trigger: '.o_field_widget[name="contact_list_ids"].o_readonly_modifier',
        },
        {
            content: "Cancel",
            trigger: '.o_form_statusbar button[name="action_cancel"]',
            run: "click",
        },
        {
            content: "Refused with the reason and what to do",
            trigger: '.modal:contains("cancel the send in the ESP itself")',
        },
        {
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Still in the queue",
            trigger: 'body:not(:has(.modal)) .o_statusbar_status button.o_arrow_button_current:contains("In Queue")',
        },
    ],
});
