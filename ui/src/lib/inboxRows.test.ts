import { describe, expect, it } from 'vitest';
import type { InboxRow } from './api';
import {
  appendPage,
  applyChanged,
  boundTop,
  compareRows,
  contactName,
  cursorAfter,
  cursorBefore,
  mergeTop,
  patchRows,
  prependPage,
  previewText,
  statusText,
  withoutContact,
  type RowWindow,
} from './inboxRows';

function row(id: string, at: string, extra: Partial<InboxRow> = {}): InboxRow {
  return {
    account: 'a',
    id,
    channel: { id: 'ch', kind: 'whatsapp', name: 'WA' },
    contact_id: 'contact-12345678',
    contact_name: null,
    opted_out: false,
    last_activity_at: at,
    last_customer_message_at: null,
    last_message: null,
    unread: 0,
    status: 'open',
    snoozed_until: null,
    assignee: null,
    labels: [],
    escalation: null,
    escalated_at: null,
    window: null,
    ...extra,
  };
}

describe('mergeTop', () => {
  it('takes a short page as the whole list', () => {
    expect(mergeTop([row('x', '1')], [row('y', '2')], 10).map((r) => r.id)).toEqual(['y']);
  });

  it('puts a full page on top and keeps older loaded rows below it, without duplicates', () => {
    const existing = [row('a', '09'), row('b', '08'), row('c', '07'), row('d', '06')];
    // `c` got new activity and moved to the top.
    const fresh = [row('c', '10'), row('a', '09')];
    expect(mergeTop(existing, fresh, 2).map((r) => r.id)).toEqual(['c', 'a', 'b', 'd']);
  });
});

describe('mergeTop when more conversations moved up than a page', () => {
  it('keeps only the page when it does not reach the rows loaded before, so no row is skipped', () => {
    // Loaded: the top three. Since then three new conversations came in; the page is two.
    const existing = [row('a', '03'), row('b', '02'), row('c', '01')];
    const fresh = [row('z', '06'), row('y', '05')];
    // `x` (05 < x < 03) was never loaded: keeping a, b, c below y would hide it for good,
    // since the next page is asked for after the last row held.
    expect(mergeTop(existing, fresh, 2).map((r) => r.id)).toEqual(['z', 'y']);
  });

  it('keeps only the page when its last row is held but has moved since', () => {
    const existing = [row('a', '03'), row('b', '02'), row('c', '01')];
    const fresh = [row('z', '06'), row('b', '05')];
    expect(mergeTop(existing, fresh, 2).map((r) => r.id)).toEqual(['z', 'b']);
  });
});

/** A fake inbox of `n` rows (newest first, many tied times) paged by keyset, as the engine does. */
function world(n: number) {
  const all = Array.from({ length: n }, (_, i) =>
    row(`c${String(i).padStart(5, '0')}`, `2026-01-01T00:${String(59 - Math.floor(i / 7) % 60).padStart(2, '0')}:00.000Z`),
  ).sort(compareRows);
  const key = (at: string, id: string) => row(id, at);
  return {
    all,
    after: (cursor: { last_activity_at: string; id: string }, limit: number) =>
      all.filter((r) => compareRows(r, key(cursor.last_activity_at, cursor.id)) > 0).slice(0, limit),
    before: (cursor: { last_activity_at: string; id: string }, limit: number) => {
      const above = all.filter((r) => compareRows(r, key(cursor.last_activity_at, cursor.id)) < 0);
      return above.slice(Math.max(0, above.length - limit));
    },
  };
}

describe('a bounded window of rows', () => {
  it('scrolls the whole list down and back up holding at most a bounded window', () => {
    const w = world(2_345);
    const max = 300;
    const margin = 50;
    const page = 40;
    let win: RowWindow = { rows: w.all.slice(0, 10), offset: 0, exhausted: false };
    const seen: string[] = [];
    let view = 0;
    // Down, a screen (10 rows) at a time, loading the next page near the end of the window.
    while (view < win.offset + win.rows.length) {
      seen[view] = win.rows[view - win.offset].id;
      expect(win.rows.length).toBeLessThanOrEqual(max + page);
      if (!win.exhausted && win.offset + win.rows.length - view < 20) {
        win = appendPage(win, w.after(cursorAfter(win.rows)!, page), page, view, max, margin);
      }
      view += 1;
    }
    expect(win.exhausted).toBe(true);
    expect(win.offset + win.rows.length).toBe(2_345);
    expect(seen).toEqual(w.all.map((r) => r.id));
    expect(win.offset).toBeGreaterThan(0);
    // Back up to the top.
    view = win.offset + win.rows.length - 1;
    while (view >= 0) {
      if (win.offset > 0 && view - win.offset < 20) {
        const { window, shift } = prependPage(win, w.before(cursorBefore(win.rows)!, page), page, view + 10, max, margin);
        expect(shift).toBe(0);
        win = window;
      }
      expect(win.rows[view - win.offset].id).toBe(w.all[view].id);
      expect(win.rows.length).toBeLessThanOrEqual(max + page);
      view -= 1;
    }
    expect(win.offset).toBe(0);
  });

  it('learns how many rows are really above when it reaches the top, and says how far the view moved', () => {
    const all = [row('f', '06'), row('e', '05'), row('d', '04'), row('c', '03'), row('b', '02')];
    // Two rows were let go (offset 2) but four are above `b`… `c` now: three moved to the top.
    const win: RowWindow = { rows: [all[4]], offset: 2, exhausted: true };
    const { window, shift } = prependPage(win, all.slice(1, 4), 10, 1);
    expect(window.offset).toBe(0);
    expect(window.rows.map((r) => r.id)).toEqual(['e', 'd', 'c', 'b']);
    expect(shift).toBe(1);
    // A full page that needs more room than was counted says the same.
    const full = prependPage({ rows: [all[4]], offset: 1, exhausted: true }, all.slice(1, 4), 3, 1);
    expect(full.window.offset).toBe(0);
    expect(full.shift).toBe(2);
    // Fewer above than counted: the rows in view move up.
    const fewer = prependPage({ rows: [all[4]], offset: 5, exhausted: true }, all.slice(2, 4), 10, 1);
    expect(fewer.window.offset).toBe(0);
    expect(fewer.shift).toBe(-3);
  });

  it('lets go of rows far below the view when it grows upwards, and then is not exhausted', () => {
    const all = Array.from({ length: 20 }, (_, i) => row(`r${i}`, String(100 - i)));
    const win: RowWindow = { rows: all.slice(10), offset: 10, exhausted: true };
    const { window } = prependPage(win, all.slice(5, 10), 5, 11, 8, 2);
    expect(window.offset).toBe(5);
    expect(window.rows.map((r) => r.id)).toEqual(['r5', 'r6', 'r7', 'r8', 'r9', 'r10', 'r11', 'r12']);
    expect(window.exhausted).toBe(false);
  });

  it('bounds a reload from the top below the view', () => {
    const all = Array.from({ length: 20 }, (_, i) => row(`r${i}`, String(100 - i)));
    const win = boundTop(all, true, 5, 8, 2);
    expect(win.rows.length).toBe(8);
    expect(win.exhausted).toBe(false);
    expect(boundTop(all, true, 15, 8, 2).rows.length).toBe(17);
  });

  it('moves a changed row out of a window below the top, counting it above', () => {
    const win: RowWindow = { rows: [row('a', '05'), row('b', '04'), row('c', '03')], offset: 100, exhausted: false };
    const next = applyChanged(win, [row('b', '99', { unread: 1 }), row('c', '03', { status: 'resolved' })]);
    expect(next.rows.map((r) => r.id)).toEqual(['a', 'c']);
    expect(next.rows[1].status).toBe('resolved');
    expect(next.offset).toBe(101);
  });
});

describe('patchRows and cursorAfter', () => {
  it('replaces changed rows in place', () => {
    const rows = [row('a', '2'), row('b', '1')];
    expect(patchRows(rows, [row('b', '1', { unread: 0, status: 'resolved' })])[1].status).toBe('resolved');
  });

  it('pages after the last row', () => {
    expect(cursorAfter([row('a', 'x'), row('b', 'y')])).toEqual({ last_activity_at: 'y', id: 'b' });
    expect(cursorAfter([])).toBeNull();
  });

  it('writes the cursor time the way the cache stores it, with milliseconds', () => {
    expect(cursorAfter([row('a', '2026-01-01T10:00:00Z')])?.last_activity_at).toBe('2026-01-01T10:00:00.000Z');
    expect(cursorAfter([row('a', '2026-01-01T10:00:00.120Z')])?.last_activity_at).toBe('2026-01-01T10:00:00.120Z');
  });
});

describe('row text', () => {
  it('falls back to "Customer …" with the end of the contact id', () => {
    expect(contactName({ contact_name: null, contact_id: 'contact-12345678' })).toBe('Customer …5678');
    expect(contactName({ contact_name: 'Ana', contact_id: 'x' })).toBe('Ana');
  });

  it('previews our own messages, removed ones and attachments', () => {
    const base = { kind: 'text', text: 'hi', state: 'sent', unsent: false };
    expect(previewText({ ...base, direction: 'out' })).toBe('You: hi');
    expect(previewText({ ...base, direction: 'in', unsent: true })).toBe('Message removed');
    expect(previewText({ ...base, direction: 'in', kind: 'image', text: null })).toBe('[image]');
  });
});

describe('statusText', () => {
  it('names known statuses and passes unknown ones through', () => {
    expect(statusText('snoozed')).toBe('Snoozed');
    expect(statusText('archived')).toBe('archived');
  });
});

describe('withoutContact', () => {
  it('drops the contact’s rows on that account only', () => {
    const rows = [
      row('x', '1', { contact_id: 'k1' }),
      row('y', '2', { contact_id: 'k2' }),
      row('z', '3', { contact_id: 'k1', account: 'b' }),
    ];
    expect(withoutContact(rows, 'a', 'k1').map((r) => r.id)).toEqual(['y', 'z']);
  });
});
