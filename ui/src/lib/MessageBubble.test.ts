import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import MessageBubble from './MessageBubble.svelte';
import type { MessageView } from './api';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

const base: MessageView = {
  rowid: 7,
  message_id: null,
  idempotency_key: 'vd-1',
  direction: 'out',
  sender: null,
  sent_as: 'standard',
  kind: 'text',
  content: { kind: 'text', body: '<b>not bold</b>' },
  reply_to: null,
  occurred_at: '2026-01-01T10:00:00Z',
  state: 'queued',
  failure: null,
  edit_count: 0,
  unsent: false,
  reactions: [],
};

beforeEach(() => invokeMock.mockReset());

describe('MessageBubble', () => {
  it('shows text as text, with its state, edit mark and reactions', () => {
    render(MessageBubble, {
      account: 'a',
      message: { ...base, edit_count: 1, reactions: [{ by: 'c', emoji: '👍' }] },
    });
    const bubble = screen.getByTestId('message');
    expect(bubble.dataset.state).toBe('queued');
    expect(bubble.textContent).toContain('<b>not bold</b>');
    expect(bubble.querySelector('b')).toBeNull();
    expect(screen.getByLabelText('Queued')).toBeTruthy();
    expect(bubble.textContent).toContain('edited');
    expect(bubble.textContent).toContain('👍');
  });

  it('says why a reply failed and retries it under its key', async () => {
    invokeMock.mockResolvedValue(null);
    render(MessageBubble, {
      account: 'a',
      message: { ...base, state: 'failed', failure: { reason: 'Outside the window', code: 10, retryable: true } },
    });
    expect(screen.getByRole('alert').textContent).toContain('Not delivered: Outside the window');

    await fireEvent.click(screen.getByTestId('retry'));

    await waitFor(() => expect(invokeMock).toHaveBeenCalledWith('retry', { account: 'a', key: 'vd-1' }));
  });

  it('offers no retry for a permanent failure', () => {
    render(MessageBubble, {
      account: 'a',
      message: { ...base, state: 'failed', failure: { reason: 'Blocked', code: 1, retryable: false } },
    });
    expect(screen.queryByTestId('retry')).toBeNull();
  });

  it('marks a message the customer removed', () => {
    render(MessageBubble, { account: 'a', message: { ...base, direction: 'in', unsent: true, content: null } });
    expect(screen.getByTestId('message').textContent).toContain('The customer removed this message');
  });

  it('loads an attachment through the media command', async () => {
    invokeMock.mockResolvedValue(new Uint8Array([1, 2, 3]).buffer);
    URL.createObjectURL = vi.fn(() => 'blob:x');
    URL.revokeObjectURL = vi.fn();
    render(MessageBubble, {
      account: 'a',
      message: {
        ...base,
        direction: 'in',
        kind: 'image',
        content: { kind: 'image', media_id: 'm1', mime_type: 'image/png', caption: 'receipt' },
      },
    });

    await waitFor(() => expect(screen.getByRole('img').getAttribute('src')).toBe('blob:x'));
    expect(invokeMock).toHaveBeenCalledWith('media', { account: 'a', mediaId: 'm1' });
  });
});

describe('MessageBubble quotes and replies', () => {
  const received: MessageView = {
    ...base,
    direction: 'in',
    state: 'received',
    message_id: 'wamid.A',
    content: { kind: 'text', body: 'gracias' },
  };

  it('shows what a message quotes, and jumps to it when it is loaded', async () => {
    const onjump = vi.fn();
    render(MessageBubble, {
      account: 'a',
      message: { ...received, reply_to: 'wamid.Q' },
      quoted: { id: 'wamid.Q', author: 'You', excerpt: 'Your order shipped', rowid: 3 },
      onjump,
    });
    const quote = screen.getByTestId('quote');
    expect(quote.textContent).toContain('You');
    expect(quote.textContent).toContain('Your order shipped');
    await fireEvent.click(quote);
    expect(onjump).toHaveBeenCalledWith(3);
  });

  it('cannot jump to a quoted message that is not loaded', () => {
    render(MessageBubble, {
      account: 'a',
      message: { ...received, reply_to: 'wamid.old' },
      quoted: { id: 'wamid.old', author: '', excerpt: 'A message not loaded here', rowid: null },
    });
    expect((screen.getByTestId('quote') as HTMLButtonElement).disabled).toBe(true);
  });

  it('offers Reply by button and by r on the focused bubble', async () => {
    const onreply = vi.fn();
    render(MessageBubble, { account: 'a', message: received, onreply });
    await fireEvent.click(screen.getByTestId('reply-to-message'));
    expect(onreply).toHaveBeenCalledTimes(1);
    const bubble = screen.getByTestId('message');
    expect(bubble.tabIndex).toBe(0);
    await fireEvent.keyDown(bubble, { key: 'r' });
    expect(onreply).toHaveBeenCalledTimes(2);
    expect(onreply).toHaveBeenLastCalledWith(received);
    await fireEvent.keyDown(bubble, { key: 'r', ctrlKey: true });
    expect(onreply).toHaveBeenCalledTimes(2);
  });

  it('offers no Reply where there is nothing to quote yet', () => {
    render(MessageBubble, { account: 'a', message: base });
    expect(screen.queryByTestId('reply-to-message')).toBeNull();
    expect(screen.queryByTestId('quote')).toBeNull();
  });

  it('shows a sent template as its text, with its name small', () => {
    render(MessageBubble, {
      account: 'a',
      message: {
        ...base,
        kind: 'template',
        content: {
          kind: 'template',
          name: 'order_update',
          language: 'es',
          category: 'utility',
          body_parameters: ['Ana', '#42'],
          text: 'Hola Ana, tu pedido #42 salió hoy.',
        },
      },
    });
    expect(screen.getByTestId('template-text').textContent).toBe('Hola Ana, tu pedido #42 salió hoy.');
    expect(screen.getByTestId('template-name').textContent).toContain('order_update');
  });
});
