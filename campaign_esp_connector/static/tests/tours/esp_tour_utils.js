/** @odoo-module **/
// The Python side of a tour (tests/test_tours.py) hands values (the sandbox's URL, its credentials) to the
// browser as cookies: the sandbox listens on a port chosen when the tests start.

import { stepUtils } from "@web_tour/tour_service/tour_utils";

export function espTourCookie(name) {
    for (const part of document.cookie.split(";")) {
        const [key, ...value] = part.trim().split("=");
        if (key === name) {
            return decodeURIComponent(value.join("="));
        }
    }
    throw new Error(`tour cookie ${name} is missing`);
}

/** Steps opening a menu of the current app's top bar, once the app's first view has loaded. */
export function espOpenMenu(sectionXmlid, menuXmlid) {
    return [
        {
            content: "Wait for the app's first view",
            trigger: ".o_action_manager .o_view_controller",
        },
        {
            content: "Mark the view being left, so the next steps wait for the new one",
            trigger: ".o_action_manager .o_view_controller",
            run() {
                this.anchor.classList.add("o_esp_tour_left");
            },
        },
        {
            content: "Open the menu section",
            trigger: `.o_main_navbar [data-menu-xmlid="${sectionXmlid}"]`,
            run: "click",
        },
        {
            content: "Open the menu",
            trigger: `.o-dropdown--menu [data-menu-xmlid="${menuXmlid}"]`,
            run: "click",
        },
        {
            // A step clicking "New" right after could otherwise hit the old view's button (seen on loaded machines).
            content: "Wait for the menu's view (or its dialog)",
            trigger: ".o_action_manager .o_view_controller:not(.o_esp_tour_left), .modal .o_view_controller",
        },
    ];
}

/** Steps clicking a form's smart button, opening the button box's "More" dropdown first when it sits there. */
export function espClickStatButton(buttonName) {
    const selector = `.oe_stat_button[name="${buttonName}"]`;
    return [
        {
            content: "Show the smart button (it may sit under More)",
            trigger: ".o_form_view .o-form-buttonbox",
            run: () => {
                if (!document.querySelector(selector)) {
                    document.querySelector(".o_form_view .o-form-buttonbox .o_button_more")?.click();
                }
            },
        },
        {
            content: `Click the smart button ${buttonName}`,
            trigger: selector,
            run: "click",
        },
    ];
}

/** Steps opening Email Marketing from the home menu, as a person starts. */
export function espOpenEmailMarketing() {
    return [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open Email Marketing",
            trigger: '.o_app[data-menu-xmlid="mass_mailing.mass_mailing_menu_root"]',
            run: "click",
        },
    ];
}

/** Steps opening Email Marketing and starting a new mailing with this subject. */
export function espNewMailing(subject) {
    return [
        ...espOpenEmailMarketing(),
        {
            content: "Create a mailing",
            trigger: ".o_list_button_add, .o-kanban-button-new",
            run: "click",
        },
        {
            content: "Give its subject",
            trigger: '.o_field_widget[name="subject"] input',
            run: `edit ${subject}`,
        },
    ];
}

/** Steps picking Odoo's basic theme for a new mailing's body, then opening its ESP tab. */
export function espBasicThemeThenEspTab() {
    return [
        {
            content: "Pick a theme for the body",
            trigger: ":iframe #basic",
            run: "click",
        },
        {
            trigger: ":iframe html:not(:has(.o_mail_theme_selector_new))",
        },
        {
            content: "Open the ESP tab",
            trigger: '.o_notebook .nav-link[name="esp"]',
            run: "click",
        },
    ];
}

/** Steps pressing Sync with ESP on a mailing and waiting for its notification. */
export function espSyncWithEsp() {
    return [
        {
            content: "Sync with ESP",
            trigger: '.o_form_statusbar button[name="action_esp_sync_campaign"]',
            run: "click",
        },
        {
            trigger: '.o_notification:contains("Campaign synced with the ESP")',
        },
    ];
}
