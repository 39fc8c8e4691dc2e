/** @odoo-module **/
// An ESP manager maps the contact's company to a data field the ESP does not have yet, typing its name, then the
// contact's tags, picked in Odoo's field selector.

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

registry.category("web_tour.tours").add("campaign_esp_connector_field_mapping_tour", {
    steps: () => [
        {
            content: "Open the Field Mapping tab",
            trigger: '.o_notebook .nav-link[name="field_mapping"]',
            run: "click",
        },
        {
            content: "Add a mapping",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_field_x2many_list_row_add a',
            run: "click",
        },
        {
            content: "Map the contact's company",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="source"] select',
            run: 'select "company_name"',
        },
        {
            content: "Type a data field the ESP does not have",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="data_field_id"] input',
            run: "edit COMPANY",
        },
        {
            content: "Create it",
            trigger: '.o-autocomplete--dropdown-item a:contains("Create")',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="data_field_id"] input:value("COMPANY")',
        },
        ...stepUtils.saveForm(),
        {
            content: "The mapping is saved",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_data_row:contains("COMPANY"):contains("Company")',
        },
        {
            content: "Add another mapping",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_field_x2many_list_row_add a',
            run: "click",
        },
        {
            content: "Map a field of the contact",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="source"] select',
            run: 'select "contact"',
        },
        {
            content: "Open the field selector",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="source_path"] .o_model_field_selector',
            run: "click",
        },
        {
            trigger: ".o_model_field_selector_popover_search input",
            run: "edit Tags",
        },
        {
            content: "Pick the contact's tags",
            trigger: '.o_model_field_selector_popover_item[data-name="tag_ids"] .o_model_field_selector_popover_item_name',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="source_path"] .o_model_field_selector_chain_part:contains("Tags")',
        },
        {
            content: "Type a new data field for them",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="data_field_id"] input',
            run: "edit TAGS",
        },
        {
            trigger: '.o-autocomplete--dropdown-item a:contains("Create")',
            run: "click",
        },
        {
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_selected_row .o_field_widget[name="data_field_id"] input:value("TAGS")',
        },
        ...stepUtils.saveForm(),
        {
            content: "The contact's tags are mapped",
            trigger: '.o_field_widget[name="field_mapping_ids"] .o_data_row:contains("TAGS"):contains("Field of the Contact"):contains("Tags")',
        },
    ],
});
