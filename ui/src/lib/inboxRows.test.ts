import { describe, expect, it } from 'vitest';
import type { InboxRow } from './api';
import { contactName, cursorAfter, mergeTop, patchRows, previewText, statusText, withoutContact } from './inboxRows';

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
