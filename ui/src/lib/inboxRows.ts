/** Pure helpers for the inbox list: ordering, merging a refreshed top page, row text. */
import type { InboxCursor, InboxRow, MessagePreview } from './api';
import { t, type MessageKey } from './i18n';

export const rowKey = (row: { account: string; id: string }) => `${row.account}/${row.id}`;

/** The list's order: newest activity first, then id descending (the engine's keyset). */
export function compareRows(a: InboxRow, b: InboxRow): number {
  const x = a.last_activity_at ?? '';
  const y = b.last_activity_at ?? '';
  if (x !== y) return x < y ? 1 : -1;
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}

/**
 * The cursor for the page after `rows`, or `null` when none can be formed.
 *
 * The cache stores times as RFC 3339 with milliseconds (`…T10:00:00.000Z`) and compares the
 * cursor as text, while serde writes whole seconds without a fraction (`…T10:00:00Z`);
 * `toISOString` gives the cache's form back.
 */
export function cursorAfter(rows: InboxRow[]): InboxCursor | null {
  const last = rows[rows.length - 1];
  if (!last?.last_activity_at) return null;
  const ms = Date.parse(last.last_activity_at);
  const at = Number.isNaN(ms) ? last.last_activity_at : new Date(ms).toISOString();
  return { last_activity_at: at, id: last.id };
}

/**
 * Merges a freshly loaded first page into the rows already loaded. When the page came back
 * shorter than asked for it is the whole list. Otherwise the page replaces everything that
 * sorts up to its last row, and what was loaded below it stays (minus rows now in the page).
 */
export function mergeTop(existing: InboxRow[], fresh: InboxRow[], limit: number): InboxRow[] {
  if (fresh.length < limit) return fresh;
  const boundary = fresh[fresh.length - 1];
  const inFresh = new Set(fresh.map(rowKey));
  const below = existing.filter((row) => !inFresh.has(rowKey(row)) && compareRows(row, boundary) > 0);
  return [...fresh, ...below];
}

/** Replaces rows in place by key (changed conversations below the refreshed page). */
export function patchRows(rows: InboxRow[], patches: InboxRow[]): InboxRow[] {
  if (patches.length === 0) return rows;
  const byKey = new Map(patches.map((row) => [rowKey(row), row]));
  return rows.map((row) => byKey.get(rowKey(row)) ?? row);
}

/** The rows without an (erased) contact's conversations. */
export function withoutContact(rows: InboxRow[], account: string, contact: string): InboxRow[] {
  return rows.filter((row) => row.account !== account || row.contact_id !== contact);
}

export function contactName(row: { contact_name: string | null; contact_id: string }): string {
  if (row.contact_name && row.contact_name.trim()) return row.contact_name;
  return t('list.customer', { id: `…${row.contact_id.slice(-4)}` });
}

export function previewText(preview: MessagePreview | null): string {
  if (!preview) return t('list.noMessages');
  const prefix = preview.direction === 'outgoing' || preview.direction === 'out' ? t('list.you') : '';
  if (preview.unsent) return prefix + t('list.unsent');
  if (preview.text) return prefix + preview.text;
  return prefix + t('list.attachment', { kind: preview.kind });
}

const STATUSES = new Set(['open', 'pending', 'snoozed', 'resolved']);

/** A conversation status in words; an unknown one as the engine wrote it. */
export function statusText(status: string): string {
  return STATUSES.has(status) ? t(`status.${status}` as MessageKey) : status;
}
