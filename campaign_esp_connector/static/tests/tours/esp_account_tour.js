/** @odoo-module **/
// An ESP manager adds an account with a wrong password, reads why it failed, fixes the password and connects.

import { registry } from "@web/core/registry";
import { espOpenEmailMarketing, espOpenMenu, espTourCookie } from "./esp_tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_account_tour", {
    url: "/odoo",
    steps: () => [
        ...espOpenEmailMarketing(),
        ...espOpenMenu("mass_mailing.mass_mailing_configuration", "campaign_esp_connector.esp_account_menu"),
        {
            content: "Create an account",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "A new account shows neither empty stat buttons nor the ESP's section before it is saved",
            trigger: '.o_form_view:has(.o_field_widget[name="name"] input):not(:has(.oe_stat_button)):not(:has(.o_field_widget[name="remote_account_ref"])):not(:has(button[name="action_view_scheduled_actions"]))',
        },
        {
            trigger: '.o_field_widget[name="name"] input',
            run: "edit Tour dotdigital",
        },
        {
            trigger: '.o_field_widget[name="api_endpoint"] input',
            run: () => {
                const input = document.querySelector('.o_field_widget[name="api_endpoint"] input');
                input.value = espTourCookie("esp_tour_sandbox_url");
                input.dispatchEvent(new Event("input", { bubbles: true }));
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            trigger: '.o_field_widget[name="api_user"] input',
            run: `edit ${espTourCookie("esp_tour_sandbox_user")}`,
        },
        {
            content: "Type a wrong password",
            trigger: '.o_field_widget[name="api_password"] input',
            run: "edit not-the-password",
        },
        {
            content: "Test the connection",
            trigger: '.o_form_statusbar button[name="action_test_connection"]:not(.btn-secondary):visible',
            run: "click",
        },
        {
            content: "The form says why it failed, without the password",
            trigger: '.o_form_view .alert-danger:contains("refused the API user or password"):not(:contains("not-the-password"))',
        },
        {
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Error")',
        },
        {
            content: "Type the right password",
            trigger: '.o_field_widget[name="api_password"] input',
            run: `edit ${espTourCookie("esp_tour_sandbox_password")}`,
        },
        {
            content: "Test the connection again",
            trigger: '.o_form_statusbar button[name="action_test_connection"]:visible',
            run: "click",
        },
        {
            content: "Connected: the error is gone and the catalogue was imported",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Connected")',
        },
        {
            trigger: '.o_form_view:not(:has(.alert-danger:visible))',
        },
        {
            trigger: '.oe_stat_button[name="action_view_address_books"] .o_stat_value:not(:contains("0"))',
        },
        {
            content: "The region in dotdigital's words: the sandbox's endpoint is none of its regions",
            trigger: '.o_field_widget[name="region_label"]:contains("No region of the ESP")',
        },
        {
            content: "The connector's scheduled actions, without developer mode",
            trigger: '.o_form_statusbar button[name="action_view_scheduled_actions"]:visible',
            run: "click",
        },
        {
            trigger: '.o_list_view .o_data_row:contains("Email Marketing ESP: synchronize mailing lists with address books")',
        },
    ],
});
