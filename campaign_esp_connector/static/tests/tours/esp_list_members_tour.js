/** @odoo-module **/
// An ESP manager opens Email Marketing > Configuration > ESP List Members: every tracked contact, grouped by
// status (not only the failed ones), each with the ESP's reason in words.

import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("campaign_esp_connector_list_members_tour", {
    steps: () => [
        {
            content: "Email Marketing > Configuration",
            trigger: '.o_main_navbar button:contains("Configuration")',
            run: "click",
        },
        {
            trigger: '.dropdown-item:contains("ESP List Members")',
            run: "click",
        },
        {
            content: "The members are grouped by status, with no Failed filter hiding them",
            trigger: '.o_searchview_facet:contains("Status")',
        },
        {
            trigger: '.o_searchview:not(:has(.o_searchview_facet:contains("Failed")))',
        },
        {
            content: "Open the opted-out group",
            trigger: '.o_group_header:contains("Opted Out")',
            run: "click",
        },
        {
            content: "The tracked contact is listed, the ESP's reason in words",
            trigger: '.o_data_row:contains("ann@example.com"):contains("Confirmation email sent by the ESP")',
        },
    ],
});
