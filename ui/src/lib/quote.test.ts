import { describe, expect, it } from 'vitest';
import type { MessageView } from './api';
import { excerptOf, oneLine, quoteOf, resolveQuote } from './quote';

const msg = (over: Partial<MessageView>): MessageView => ({
  rowid: 1,
  message_id: 'wamid.A',
  idempotency_key: null,
  direction: 'in',
  sender: null,
  sent_as: null,
  kind: 'text',
  content: { kind: 'text', body: 'hola' },
  reply_to: null,
  occurred_at: '2026-01-01T10:00:00Z',
  state: 'received',
  failure: null,
  edit_count: 0,
  unsent: false,
  reactions: [],
  ...over,
});

describe('quotes', () => {
  it('reads as one short line', () => {
    expect(oneLine('  two\n\nlines\t here ')).toBe('two lines here');
    const long = 'x'.repeat(200);
    expect([...oneLine(long)].length).toBe(90);
    expect(oneLine(long).endsWith('…')).toBe(true);
    expect(oneLine('ñ'.repeat(95), 10)).toBe(`${'ñ'.repeat(9)}…`);
  });

  it.each([
    [{ kind: 'text', body: '¿Tienen talla M?' }, 'text', '¿Tienen talla M?'],
    [{ kind: 'image', media_id: 'm', caption: 'the receipt' }, 'image', 'the receipt'],
    [{ kind: 'image', media_id: 'm' }, 'image', '[image]'],
    [{ kind: 'template', name: 'order_update', text: 'Hola Ana, tu pedido' }, 'template', 'Hola Ana, tu pedido'],
    [{ kind: 'template', name: 'order_update' }, 'template', 'order_update'],
    [{ kind: 'location', latitude: 1, longitude: 2, name: 'Shop' }, 'location', 'Shop'],
  ])('excerpts %j', (content, kind, want) => {
    expect(excerptOf({ content, kind, unsent: false })).toBe(want);
  });

  it('names who wrote it, and cannot quote what Meta has no id for yet', () => {
    expect(quoteOf(msg({}), 'Rosa')).toEqual({ id: 'wamid.A', author: 'Rosa', excerpt: 'hola', rowid: 1 });
    expect(quoteOf(msg({ direction: 'out', rowid: 4 }), 'Rosa')?.author).toBe('You');
    expect(quoteOf(msg({ message_id: null, direction: 'out', state: 'queued' }), 'Rosa')).toBeNull();
    expect(quoteOf(msg({ unsent: true, content: null }), 'Rosa')).toBeNull();
  });

  it('resolves a bubble’s quote from the loaded messages, else says it is not loaded', () => {
    const loaded = [msg({ rowid: 3, message_id: 'm_1', content: { kind: 'text', body: 'first' } })];
    expect(resolveQuote('m_1', loaded, 'Rosa')).toEqual({ id: 'm_1', author: 'Rosa', excerpt: 'first', rowid: 3 });
    expect(resolveQuote('m_old', loaded, 'Rosa')).toEqual({
      id: 'm_old',
      author: '',
      excerpt: 'A message not loaded here',
      rowid: null,
    });
  });
});
