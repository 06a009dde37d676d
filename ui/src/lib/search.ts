/** Search results as the overlay shows them: grouped by kind, snippets as plain parts. */
import type { SearchRow, SnippetPart } from './api';

export interface SearchGroups {
  contacts: SearchRow[];
  messages: SearchRow[];
  notes: SearchRow[];
}

export function groupResults(rows: SearchRow[]): SearchGroups {
  const groups: SearchGroups = { contacts: [], messages: [], notes: [] };
  for (const row of rows) {
    if (row.kind === 'contact') groups.contacts.push(row);
    else if (row.kind === 'note') groups.notes.push(row);
    else groups.messages.push(row);
  }
  return groups;
}

/** Results in the order the overlay lists them, for arrow-key navigation. */
export function flatten(groups: SearchGroups): SearchRow[] {
  return [...groups.contacts, ...groups.messages, ...groups.notes];
}

/**
 * Joins adjacent parts with the same `hit` flag and drops empty ones, so each becomes one
 * text node or one `<mark>`. The text is never parsed as markup.
 */
export function snippetParts(parts: SnippetPart[]): SnippetPart[] {
  const out: SnippetPart[] = [];
  for (const part of parts) {
    if (!part.text) continue;
    const last = out[out.length - 1];
    if (last && last.hit === part.hit) last.text += part.text;
    else out.push({ text: part.text, hit: part.hit });
  }
  return out;
}

/** Runs `fn` once input has paused for `ms`; a later call cancels an earlier one. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = (...args: A) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}
