"""Pure CRM rules: validation, normalization, matching, closures, calendars, exports and imports."""
