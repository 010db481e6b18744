// Starts GOV.UK Frontend's components (menus, error summaries...). Pages work without it.
import { initAll } from "/static/govuk/govuk-frontend.min.js";
initAll();
