/** @odoo-module **/
// A badge that keeps its form current while the ESP works: a sync runs and a send goes out in cron workers,
// so without this the form kept showing "Queued" or "In Queue" until the person reloaded the page.

import { useEffect } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";
import { BadgeField, badgeField } from "@web/views/fields/badge/badge_field";

export class EspLiveBadgeField extends BadgeField {
    static props = {
        ...BadgeField.props,
        watchField: { type: String, optional: true },
        watchValues: { type: Array, optional: true },
        interval: { type: Number, optional: true },
    };
    static defaultProps = {
        ...BadgeField.defaultProps,
        watchValues: [],
        interval: 5000,
    };

    setup() {
        super.setup();
        useEffect(
            (value) => {
                if (!this.props.watchValues.includes(value)) {
                    return;
                }
                const timer = browser.setInterval(async () => {
                    const record = this.props.record;
                    // Never under a person's hands: unsaved edits stay as they are.
                    if (await record.isDirty()) {
                        return;
                    }
                    await record.load();
                }, this.props.interval);
                return () => browser.clearInterval(timer);
            },
            () => [this.props.record.data[this.props.watchField || this.props.name]]
        );
    }
}

export const espLiveBadgeField = {
    ...badgeField,
    component: EspLiveBadgeField,
    extractProps: (fieldInfo, dynamicInfo) => ({
        ...badgeField.extractProps(fieldInfo, dynamicInfo),
        watchField: fieldInfo.options.watch_field,
        watchValues: fieldInfo.options.watch_values || [],
        interval: fieldInfo.options.interval,
    }),
};

registry.category("fields").add("esp_live_badge", espLiveBadgeField);
