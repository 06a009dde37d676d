import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import Composer from './Composer.svelte';
import type { ConversationSummary } from './api';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

const summary = {
  id: 'c1',
  channel: { id: 'ch1', kind: 'whatsapp', name: 'Acme' },
  contact_id: 'p1',
  contact_name: 'Rosa',
  opted_out: false,
  last_activity_at: null,
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
} as unknown as ConversationSummary;

const quote = { id: 'wamid.Q', author: 'Rosa', excerpt: '¿Tienen talla M?', rowid: 9 };

beforeEach(() => {
  invokeMock.mockReset();
  invokeMock.mockResolvedValue({ key: 'vd-1', rowid: 10 });
});

describe('Composer quoting', () => {
  it('shows the quoted message and sends the reply with it, then drops it', async () => {
    const oncancelquote = vi.fn();
    render(Composer, { account: 'a', summary, now: 0, quote, oncancelquote });
    const shown = screen.getByTestId('composer-quote');
    expect(shown.textContent).toContain('Replying to Rosa');
    expect(shown.textContent).toContain('¿Tienen talla M?');

    await fireEvent.input(screen.getByTestId('composer-input'), { target: { value: 'Sí, la tenemos' } });
    await fireEvent.click(screen.getByTestId('composer-send'));

    await waitFor(() =>
      expect(invokeMock).toHaveBeenCalledWith('compose', {
        account: 'a',
        conversation: 'c1',
        draft: { kind: 'text', text: 'Sí, la tenemos', reply_to: 'wamid.Q' },
      }),
    );
    expect(oncancelquote).toHaveBeenCalledTimes(1);
  });

  it('sends without a quote when there is none', async () => {
    render(Composer, { account: 'a', summary, now: 0 });
    expect(screen.queryByTestId('composer-quote')).toBeNull();
    await fireEvent.input(screen.getByTestId('composer-input'), { target: { value: 'hola' } });
    await fireEvent.click(screen.getByTestId('composer-send'));
    await waitFor(() =>
      expect(invokeMock).toHaveBeenCalledWith('compose', {
        account: 'a',
        conversation: 'c1',
        draft: { kind: 'text', text: 'hola' },
      }),
    );
  });

  it('cancels the quote by its button or Escape, and keeps it when sending fails', async () => {
    const oncancelquote = vi.fn();
    render(Composer, { account: 'a', summary, now: 0, quote, oncancelquote });
    await fireEvent.click(screen.getByTestId('cancel-quote'));
    expect(oncancelquote).toHaveBeenCalledTimes(1);
    await fireEvent.keyDown(screen.getByTestId('composer-input'), { key: 'Escape' });
    expect(oncancelquote).toHaveBeenCalledTimes(2);

    invokeMock.mockRejectedValue({ code: 'offline', message: 'no' });
    await fireEvent.input(screen.getByTestId('composer-input'), { target: { value: 'x' } });
    await fireEvent.click(screen.getByTestId('composer-send'));
    await waitFor(() => expect(screen.getByTestId('composer-error')).toBeTruthy());
    expect(oncancelquote).toHaveBeenCalledTimes(2);
  });

  it('does not quote in a private note', async () => {
    render(Composer, { account: 'a', summary, now: 0, quote, noteMode: true });
    expect(screen.queryByTestId('composer-quote')).toBeNull();
  });
});
