/** @odoo-module **/
// A marketing user writes a mailing with images (Odoo's "Welcome Message" theme: a logo, a signature, social
// icons) to a connected list and presses Sync with ESP. tests/test_tours.py then reads the campaign the sandbox
// stored: every image and link in its HTML is absolute, as in Odoo's own send.

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { espNewMailing, espSyncWithEsp } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_content_tour", {
    url: "/odoo",
    steps: () => [
        ...espNewMailing("Tour Image Mailing"),
        {
            content: "Send it to the connected list",
            trigger: '.o_field_widget[name="contact_list_ids"] input',
            run: "edit Tour Image Readers",
        },
        {
            trigger: '.o-autocomplete--dropdown-item:contains("Tour Image Readers")',
            run: "click",
        },
        {
            content: "Pick the Welcome Message theme: a logo, a signature and social icons",
            trigger: ":iframe #default",
            run: "click",
        },
        {
            content: "The body shows the theme's images",
            trigger: ":iframe html:not(:has(.o_mail_theme_selector_new)) img[src*='/mass_mailing/static/']",
        },
        {
            content: "The mailing goes through the ESP account of its list",
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="esp_account_id"] input:value("Tour sandbox")',
        },
        ...stepUtils.saveForm(),
        ...espSyncWithEsp(),
        {
            trigger: '.o_field_widget[name="esp_campaign_state"]:contains("Synced")',
        },
    ],
});
