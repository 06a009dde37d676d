/** A template's body with its parameters filled in, by the rules the relay renders sent
 * templates with (`ventana_protocol::event::render_template`): `{{1}}` is the first
 * parameter; a placeholder without one stays as written. */
export function renderTemplate(body: string, parameters: string[]): string {
  let out = '';
  let rest = body;
  for (;;) {
    const start = rest.indexOf('{{');
    if (start < 0) break;
    out += rest.slice(0, start);
    const after = rest.slice(start + 2);
    const end = after.indexOf('}}');
    const inner = end >= 0 ? after.slice(0, end).trim() : '';
    const n = /^\d+$/.test(inner) ? Number(inner) : 0;
    const value = n >= 1 ? parameters[n - 1] : undefined;
    if (end >= 0 && value !== undefined) {
      out += value;
      rest = after.slice(end + 2);
    } else {
      out += '{';
      rest = rest.slice(start + 1);
    }
  }
  return out + rest;
}
