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
 * shorter than asked for it is the whole list. Otherwise what was loaded below the page's
 * last row stays (minus rows now in the page), but only when that row is among the loaded
 * ones with the same activity: then nothing can sort between it and the rows kept below.
 * When more conversations than a page moved to the top since the last merge, the page no
 * longer reaches the rows loaded before, and keeping them would leave a gap the keyset
 * cursor (after the last row) never fills: the page alone is the list, and it grows again
 * from its last row.
 */
export function mergeTop(existing: InboxRow[], fresh: InboxRow[], limit: number): InboxRow[] {
  if (fresh.length < limit) return fresh;
  const boundary = fresh[fresh.length - 1];
  const at = existing.findIndex((row) => rowKey(row) === rowKey(boundary));
  if (at < 0 || existing[at].last_activity_at !== boundary.last_activity_at) return fresh;
  const inFresh = new Set(fresh.map(rowKey));
  const below = existing.slice(at + 1).filter((row) => !inFresh.has(rowKey(row)));
  return [...fresh, ...below];
}

/**
 * The loaded part of the inbox: a window of consecutive rows, `offset` rows below the top
 * of the list (those above it are not held), `exhausted` when nothing is below its end.
 * The list scrolls over `offset + rows.length` rows; the rows far from the view are let go
 * and loaded again by keyset (after the last row, before the first) when scrolled back to.
 */
export interface RowWindow {
  rows: InboxRow[];
  offset: number;
  exhausted: boolean;
}

/** How many rows the window holds at most, and how many it keeps beyond the view. */
export const WINDOW_ROWS = 1000;
export const WINDOW_MARGIN = 300;

/** The window's rows beyond `max`, taken from the end, while they lie `margin` rows past `viewEnd`. */
function trimBottom(win: RowWindow, viewEnd: number, max: number, margin: number): RowWindow {
  const keep = Math.max(max, viewEnd - win.offset + margin);
  if (win.rows.length <= keep) return win;
  return { rows: win.rows.slice(0, keep), offset: win.offset, exhausted: false };
}

/**
 * A page loaded after the window's last row (`limit` asked for), appended; rows more than
 * `margin` above the view's first row (`viewStart`, counted from the top of the list) are
 * let go once the window holds more than `max`.
 */
export function appendPage(
  win: RowWindow,
  page: InboxRow[],
  limit: number,
  viewStart: number,
  max = WINDOW_ROWS,
  margin = WINDOW_MARGIN,
): RowWindow {
  const have = new Set(win.rows.map(rowKey));
  const rows = [...win.rows, ...page.filter((row) => !have.has(rowKey(row)))];
  const drop = Math.min(rows.length - max, viewStart - win.offset - margin);
  if (drop <= 0) return { rows, offset: win.offset, exhausted: page.length < limit };
  return { rows: rows.slice(drop), offset: win.offset + drop, exhausted: page.length < limit };
}

/**
 * A page loaded before the window's first row (`limit` asked for, in the list's order),
 * prepended; rows more than `margin` below the view's last row (`viewEnd`) are let go once
 * the window holds more than `max`.
 *
 * `offset` was counted when rows were let go; conversations that moved to the top since
 * make it wrong by as many. A short page is the top of the list, so the true number above
 * is known there; a full page that needs more room than `offset` left shows more rows are
 * above than counted. `shift` is how many rows the rows in view moved down (negative: up),
 * for the list to scroll by so they stay where the agent sees them.
 */
export function prependPage(
  win: RowWindow,
  page: InboxRow[],
  limit: number,
  viewEnd: number,
  max = WINDOW_ROWS,
  margin = WINDOW_MARGIN,
): { window: RowWindow; shift: number } {
  const have = new Set(win.rows.map(rowKey));
  const fresh = page.filter((row) => !have.has(rowKey(row)));
  let offset = win.offset - fresh.length;
  let shift = 0;
  if (page.length < limit || offset < 0) {
    shift = -offset || 0;
    offset = 0;
  }
  const grown = { rows: [...fresh, ...win.rows], offset, exhausted: win.exhausted };
  return { window: trimBottom(grown, viewEnd + shift, max, margin), shift };
}

/**
 * After a reload from the top (the window at the top of the list): the merged rows, with
 * what lies more than `margin` below the view let go once they are more than `max`.
 */
export function boundTop(rows: InboxRow[], exhausted: boolean, viewEnd: number, max = WINDOW_ROWS, margin = WINDOW_MARGIN): RowWindow {
  return trimBottom({ rows, offset: 0, exhausted }, viewEnd, max, margin);
}

/**
 * Changed conversations (their fresh rows) applied to a window that does not hold the top
 * of the list: a row whose activity now sorts above the window's first row moved to the
 * top, out of the window, and counts as one more row above it (the rows before it in the
 * window moved down by one, those after it stay); the others are replaced where they are.
 */
export function applyChanged(win: RowWindow, patches: InboxRow[]): RowWindow {
  if (patches.length === 0 || win.rows.length === 0) return win;
  const byKey = new Map(patches.map((row) => [rowKey(row), row]));
  const moved = new Set<string>();
  const stay = win.rows.filter((row) => !byKey.has(rowKey(row)));
  const first = stay[0];
  for (const row of win.rows) {
    const patch = byKey.get(rowKey(row));
    if (patch && first && compareRows(patch, first) < 0) moved.add(rowKey(row));
  }
  const rows = win.rows
    .filter((row) => !moved.has(rowKey(row)))
    .map((row) => byKey.get(rowKey(row)) ?? row);
  return { rows, offset: win.offset + moved.size, exhausted: win.exhausted };
}

/** The cursor for the page before `rows` (their first row), or `null`. */
export function cursorBefore(rows: InboxRow[]): InboxCursor | null {
  return rows.length > 0 ? cursorAfter([rows[0]]) : null;
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
