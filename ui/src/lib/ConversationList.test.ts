import { fireEvent, render, screen } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import ConversationList from './ConversationList.svelte';
import type { InboxRow } from './api';

globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
} as unknown as typeof ResizeObserver;

function rows(count: number): InboxRow[] {
  return Array.from({ length: count }, (_, i) => ({
    account: 'a',
    id: `c${i}`,
    channel: { id: 'ch', kind: 'instagram' as const, name: 'IG' },
    contact_id: `contact-${i}`,
    contact_name: `Contact ${i}`,
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
  }));
}

describe('ConversationList', () => {
  it('keeps the DOM small at 100,000 rows and follows the scroll', async () => {
    const all = rows(100_000);
    render(ConversationList, { title: 'All', rows: all, exhausted: true });

    const first = screen.getAllByTestId('conversation-row');
    expect(first.length).toBeLessThan(40);
    expect(first[0].dataset.conversationId).toBe('c0');

    const viewport = screen.getByRole('listbox', { name: 'All' });
    viewport.scrollTop = 76 * 50_000;
    await fireEvent.scroll(viewport);

    const shown = screen.getAllByTestId('conversation-row').map((r) => r.dataset.conversationId);
    expect(shown.length).toBeLessThan(40);
    expect(shown).toContain('c50000');
  });

  it('asks for the next page near the end of what is loaded', () => {
    const onmore = vi.fn();
    render(ConversationList, { title: 'All', rows: rows(10), exhausted: false, onmore });
    expect(onmore).toHaveBeenCalled();
  });

  it('places the rows it holds below the rows let go above, and asks for those near them', async () => {
    const onearlier = vi.fn();
    const onmore = vi.fn();
    render(ConversationList, { title: 'All', rows: rows(100), offset: 5_000, exhausted: true, onmore, onearlier });
    const viewport = screen.getByRole('listbox', { name: 'All' });
    // The list is as tall as everything above plus what is held.
    expect((viewport.firstElementChild as HTMLElement).style.height).toBe(`${76 * 5_100}px`);
    viewport.scrollTop = 76 * 5_050;
    await fireEvent.scroll(viewport);
    expect(screen.getAllByTestId('conversation-row').map((r) => r.dataset.conversationId)).toContain('c50');
    onearlier.mockClear();
    viewport.scrollTop = 76 * 5_060;
    await fireEvent.scroll(viewport);
    expect(onearlier).not.toHaveBeenCalled();
    viewport.scrollTop = 76 * 5_010;
    await fireEvent.scroll(viewport);
    expect(onearlier).toHaveBeenCalled();
    expect(onmore).not.toHaveBeenCalled();
  });

  it('does not ask for more once the list is exhausted', () => {
    const onmore = vi.fn();
    render(ConversationList, { title: 'All', rows: rows(10), exhausted: true, onmore });
    expect(onmore).not.toHaveBeenCalled();
  });
});
