/** @odoo-module **/
// Issue 23: a marketing user connects a filter on Contacts to a new address book (Email Marketing > Mailing Lists >
// Connect a Filter to the ESP); after the sync cron's run (tests/test_tours.py), writes a mailing to the same filtered
// Contacts and sends it through the ESP, which sends it to that filter's book.

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { espBasicThemeThenEspTab, espNewMailing, espOpenEmailMarketing, espOpenMenu } from "./esp_tour_utils";

/** Steps typing ``text`` in a many2one and picking the suggestion that reads exactly ``text``. */
function espPick(fieldSelector, text) {
    return [
        {
            content: `Type ${text}`,
            trigger: `${fieldSelector} input`,
            run: `edit ${text}`,
        },
        {
            content: `Pick ${text}`,
            trigger: `.o-autocomplete--dropdown-item:contains("${text}")`,
            run: () => {
                const items = [...document.querySelectorAll(".o-autocomplete--dropdown-item")];
                const item = items.find((element) => element.textContent.trim() === text) || items[0];
                (item.querySelector("a") || item).click();
            },
        },
        {
            trigger: `${fieldSelector} input:value("${text}")`,
        },
    ];
}

registry.category("web_tour.tours").add("campaign_esp_connector_audience_connect_tour", {
    url: "/odoo",
    steps: () => [
        ...espOpenEmailMarketing(),
        ...espOpenMenu("mass_mailing.mass_mailing_mailing_list_menu", "campaign_esp_connector.esp_connect_filter_menu"),
        {
            content: "Name the list the filter becomes",
            trigger: '.modal .o_field_widget[name="list_name"] input',
            run: "edit Tour UK customers",
        },
        ...espPick('.modal .o_field_widget[name="model_id"]', "Contact"),
        ...espPick('.modal .o_field_widget[name="filter_id"]', "Tour customers"),
        {
            content: "The dialog counts the emails the filter gives",
            trigger: '.modal .o_field_widget[name="match_count"]:contains("3")',
        },
        ...espPick('.modal .o_field_widget[name="account_id"]', "Tour sandbox"),
        {
            content: "Name a new address book",
            trigger: '.modal .o_field_widget[name="new_address_book_name"] input',
            run: "edit Tour Customers Book",
        },
        {
            content: "Connect",
            trigger: '.modal button[name="action_connect"]',
            run: "click",
        },
        {
            content: "The filter is a list connected to the new book, its first sync queued",
            trigger: '.o_form_view:not(:has(.modal)) .o_field_widget[name="esp_address_book_id"]:contains("Tour Customers Book")',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_audience_send_tour", {
    url: "/odoo",
    steps: () => [
        ...espNewMailing("Tour Contacts Campaign"),
        ...espPick('.o_field_widget[name="mailing_model_id"]', "Contact"),
        ...espPick('.o_field_widget[name="mailing_filter_id"]', "Tour customers"),
        ...espBasicThemeThenEspTab(),
        ...espPick('.o_field_widget[name="esp_account_id"]', "Tour sandbox"),
        {
            content: "The ESP tab says the mailing goes to the connected filter's book",
            trigger: '.o_esp_audience .o_field_widget[name="esp_audience_filter_id"]:contains("Tour UK customers")',
        },
        ...stepUtils.saveForm(),
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
            content: "The mailing waits for the ESP cron",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("In Queue")',
        },
    ],
});
