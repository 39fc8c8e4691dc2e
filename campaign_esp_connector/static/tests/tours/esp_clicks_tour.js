/** @odoo-module **/
// After an ESP send and a read of its recipients' activity (tests/test_tours.py), a marketing user opens the
// mailing: Clicked lists the recipients who clicked, and Link Trackers the mailing's links with their clicks,
// as for a mailing Odoo sent itself.

import { registry } from "@web/core/registry";
import { espClickStatButton } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_clicks_tour", {
    steps: () => [
        {
            content: "The ESP sent it",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Sent")',
        },
        {
            content: "Every reader clicked",
            trigger: '.oe_stat_button[name="action_view_clicked"] .o_field_percent_pie:contains("100")',
        },
        ...espClickStatButton("action_view_clicked"),
        {
            content: "Clicked drills down to the clickers",
            trigger: '.o_list_view .o_data_row:contains("Clicker 0")',
        },
        {
            trigger: '.o_list_view .o_data_row:eq(2):contains("Clicker")',
        },
        {
            trigger: '.o_breadcrumb .breadcrumb-item a:contains("Tour Clicks")',
            run: "click",
        },
        ...espClickStatButton("action_view_link_trackers"),
        {
            content: "Link Trackers lists the mailing's links as written, with the ESP's clicks",
            trigger: '.o_list_view .o_data_row td[name="url"]:contains("https://example.com/spring")',
        },
        {
            trigger: '.o_list_view .o_data_row td[name="url"]:contains("https://example.com/summer")',
        },
        {
            content: "Open a link's click statistics",
            trigger: '.o_list_view .o_data_row td[name="url"]:contains("https://example.com/spring")',
            run: "click",
        },
        {
            trigger: '.o_form_view button[name="action_view_statistics"]',
            run: "click",
        },
        {
            content: "Its clicks, as a list",
            trigger: ".o_control_panel .o_switch_view.o_list",
            run: "click",
        },
        {
            content: "Its clicks are there",
            trigger: ".o_list_view .o_data_row, .o_list_view .o_group_header",
        },
    ],
});
