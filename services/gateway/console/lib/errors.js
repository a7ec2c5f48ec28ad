// Which localized message an API error gets (pure: unit-tested with node --test).

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
    this.details = error && error.details;
  }
}

// The message template of an error: `code:field`, then `code:prefix.*` for a nested field, then `code`,
// then `http_<status>`, then `unknown`. Returns [template, whether it was specific to the field].
export function errorTemplate(table, code, field, status) {
  // "fields.dni", "actions[0].kind", "phones[0]": any field under the same name.
  const generic = field && /[.[]/.test(field) ? `${field.split(/[.[]/)[0]}.*` : field;
  for (const [key, specific] of [[`${code}:${field}`, true], [`${code}:${generic}`, true], [code, false],
    [`http_${status}`, false], ["unknown", false]]) {
    if (key && table[key]) return [table[key], specific && !!field];
  }
  return ["", false];
}

// The text shown for an error: the template with the field's name on screen and any retry delay.
export function errorSentence(table, ex, fieldLabel) {
  const field = ex.field || "";
  const [template, specific] = errorTemplate(table, ex.code, field, ex.status);
  let text = field ? template.replace("{field}", fieldLabel) : template.replace(/[:\s«“]*\{field\}[»”]?/, "");
  if (ex.details && ex.details.retry_after_s) text = text.replace("{seconds}", ex.details.retry_after_s);
  if (field && !template.includes("{field}") && !specific) text += ` (${fieldLabel})`;
  return text;
}

// The name of a field the server named, when the screen has no label for it: the table's, or its last part.
export function fieldFallback(fields, field) {
  if (!field) return "";
  if (fields[field]) return fields[field];
  return field.includes(".") ? field.slice(field.indexOf(".") + 1) : field;
}
