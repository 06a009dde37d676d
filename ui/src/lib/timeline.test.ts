import { describe, expect, it } from 'vitest';
import type { MessageView, NoteView } from './api';
import { failureText, stateIcon, timeline } from './timeline';

const message = (rowid: number, at: string): MessageView => ({
  rowid,
  message_id: null,
  idempotency_key: null,
  direction: 'in',
  sender: null,
  sent_as: null,
  kind: 'text',
  content: { kind: 'text', body: 'x' },
  reply_to: null,
  occurred_at: at,
  state: 'received',
  failure: null,
  edit_count: 0,
  unsent: false,
  reactions: [],
});
const note = (id: string, at: string): NoteView => ({ id, author: 'me', text: 'n', created_at: at });

describe('timeline', () => {
  it('puts notes between the messages around them', () => {
    const items = timeline(
      [message(1, '2026-01-01T10:00:00Z'), message(2, '2026-01-01T12:00:00Z')],
      [note('late', '2026-01-01T13:00:00Z'), note('mid', '2026-01-01T11:00:00Z')],
    );
    expect(items.map((i) => i.key)).toEqual(['m1', 'nmid', 'm2', 'nlate']);
  });
});

describe('message state', () => {
  it('shows a clock for queued and an alert for failed', () => {
    expect(stateIcon('queued')?.icon).toBe('clock');
    expect(stateIcon('failed')?.icon).toBe('alert');
    expect(stateIcon('received')).toBeNull();
  });

  it('says why a message failed', () => {
    expect(failureText({ reason: 'Outside the 24 h window' })).toBe('Not delivered: Outside the 24 h window');
    expect(failureText({ code: 131047 })).toBe('Not delivered: 131047');
    expect(failureText(null)).toBe('Not delivered');
  });
});
