/** @odoo-module **/
// A marketing user connects a mailing list to a new address book and synchronizes it; after the cron's run
// (tests/test_tours.py), the list is up to date, its sync history shows the run, and Synchronize queues another.

import { registry } from "@web/core/registry";
import { espClickStatButton, espOpenEmailMarketing, espOpenMenu } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_list_connect_tour", {
    url: "/odoo",
    steps: () => [
        ...espOpenEmailMarketing(),
        ...espOpenMenu("mass_mailing.mass_mailing_mailing_list_menu", "mass_mailing.menu_email_mass_mailing_lists"),
        {
            content: "Open the list",
            trigger: '.o_kanban_record:contains("Tour Subscribers"), .o_data_row:contains("Tour Subscribers") td.o_data_cell',
            run: "click",
        },
        {
            content: "Connect it to the ESP",
            trigger: '.o_form_view button[name="action_esp_connect"]',
            run: "click",
        },
        {
            content: "Pick the account",
            trigger: '.modal .o_field_widget[name="account_id"] input',
            run: "edit Tour sandbox",
        },
        {
            trigger: '.modal .o-autocomplete--dropdown-item:contains("Tour sandbox")',
            run: "click",
        },
        {
            content: "Name a new address book",
            trigger: '.modal .o_field_widget[name="new_address_book_name"] input',
            run: "edit Tour Book",
        },
        {
            content: "Connect",
            trigger: '.modal button[name="action_connect"]',
            run: "click",
        },
        {
            content: "The list is connected to the new book",
            trigger: '.o_form_view:not(:has(.modal)) .o_field_widget[name="esp_address_book_id"]:contains("Tour Book")',
        },
        {
            content: "Connecting queued the first sync for the cron",
            trigger: '.o_field_widget[name^="esp_sync_stat"]:contains("Queued")',
        },
    ],
});

registry.category("web_tour.tours").add("campaign_esp_connector_list_synced_tour", {
    steps: () => [
        {
            content: "The list is up to date with its three contacts synced",
            trigger: '.o_field_widget[name^="esp_sync_stat"]:contains("Up to Date")',
        },
        {
            trigger: '.o_field_widget[name="esp_synced_count"]:contains("3")',
        },
        ...espClickStatButton("action_esp_view_sync_logs"),
        {
            content: "The run is there",
            trigger: ".o_list_view .o_data_row",
        },
        {
            content: "Back to the list",
            trigger: '.o_breadcrumb .breadcrumb-item a:contains("Tour Subscribers")',
            run: "click",
        },
        {
            content: "Synchronize again by hand",
            trigger: '.o_form_view button[name="action_esp_synchronize"]',
            run: "click",
        },
        {
            content: "The sync is queued for the cron",
            trigger: '.o_notification:contains("queued")',
        },
        {
            trigger: '.o_field_widget[name^="esp_sync_stat"]:contains("Queued")',
        },
    ],
});
