import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SearchRow } from './api';
import { debounce, flatten, groupResults, snippetParts } from './search';

const row = (kind: string, id: string): SearchRow => ({
  account: 'a',
  kind,
  conversation_id: 'c',
  contact_id: id,
  contact_name: null,
  message_rowid: null,
  occurred_at: null,
  snippet: [],
});

describe('groupResults', () => {
  it('groups contacts, messages and notes and flattens in that order', () => {
    const groups = groupResults([row('message', '1'), row('note', '2'), row('contact', '3')]);
    expect(groups.contacts.map((r) => r.contact_id)).toEqual(['3']);
    expect(groups.messages.map((r) => r.contact_id)).toEqual(['1']);
    expect(groups.notes.map((r) => r.contact_id)).toEqual(['2']);
    expect(flatten(groups).map((r) => r.contact_id)).toEqual(['3', '1', '2']);
  });
});

describe('snippetParts', () => {
  it('joins neighbours with the same flag and drops empty parts', () => {
    expect(
      snippetParts([
        { text: 'the ', hit: false },
        { text: '', hit: true },
        { text: 'order ', hit: false },
        { text: 'refund', hit: true },
        { text: 's', hit: true },
      ]),
    ).toEqual([
      { text: 'the order ', hit: false },
      { text: 'refunds', hit: true },
    ]);
  });

  it('keeps markup as text', () => {
    expect(snippetParts([{ text: '<b>x</b>', hit: true }])).toEqual([{ text: '<b>x</b>', hit: true }]);
  });
});

describe('debounce', () => {
  afterEach(() => vi.useRealTimers());

  it('runs once with the last arguments after the pause', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const run = debounce(fn, 120);
    run('a');
    run('ab');
    vi.advanceTimersByTime(119);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledExactlyOnceWith('ab');
  });
});
