import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import SearchBox from './SearchBox.svelte';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

describe('SearchBox', () => {
  it('shows grouped results with hits marked and markup kept as text, and opens one', async () => {
    invokeMock.mockResolvedValue([
      {
        account: 'a',
        kind: 'message',
        conversation_id: 'c1',
        contact_id: 'k1',
        contact_name: 'Ana',
        message_rowid: 5,
        occurred_at: null,
        snippet: [
          { text: '<img src=x> my ', hit: false },
          { text: 'refund', hit: true },
        ],
      },
    ]);
    const onopen = vi.fn();
    render(SearchBox, { onopen });

    await fireEvent.input(screen.getByTestId('search-input'), { target: { value: 'refu' } });

    const result = await screen.findByTestId('search-result');
    expect(invokeMock).toHaveBeenCalledWith('search', { query: 'refu', limit: 50 });
    expect(result.querySelector('mark')?.textContent).toBe('refund');
    expect(result.querySelector('img')).toBeNull();
    expect(result.textContent).toContain('<img src=x> my');
    expect(screen.getByTestId('search-results').textContent).toContain('Messages');

    await fireEvent.click(result);
    await waitFor(() => expect(onopen).toHaveBeenCalledWith(expect.objectContaining({ conversation_id: 'c1', message_rowid: 5 })));
  });
});
