import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

beforeEach(() => {
  invokeMock.mockReset();
  invokeMock.mockResolvedValue({ name: 'ventana', version: '0.0.0-test' });
});

describe('App shell', () => {
  it('renders the sidebar, the conversation list and the conversation pane inside the shell', () => {
    render(App);

    const shell = screen.getByTestId('app-shell');
    const sidebar = screen.getByRole('navigation', { name: 'Main' });
    const list = screen.getByRole('region', { name: 'Conversations' });
    const pane = screen.getByRole('main', { name: 'Conversation' });

    expect(sidebar).toBe(screen.getByTestId('sidebar'));
    expect(list).toBe(screen.getByTestId('conversation-list'));
    expect(pane).toBe(screen.getByTestId('conversation-pane'));
    for (const column of [sidebar, list, pane]) {
      expect(shell.contains(column)).toBe(true);
    }
  });

  it('shows the app name in the sidebar', () => {
    render(App);

    expect(within(screen.getByTestId('sidebar')).getByText('Ventana')).toBeTruthy();
  });

  it('lists the inbox views with "All inboxes" selected', () => {
    render(App);
    const sidebar = within(screen.getByTestId('sidebar'));

    const labels = ['All inboxes', 'Mine', 'Unassigned', 'Escalated'];
    const buttons = labels.map((name) => sidebar.getByRole('button', { name }));

    expect(buttons[0].getAttribute('aria-current')).toBe('page');
    for (const other of buttons.slice(1)) {
      expect(other.hasAttribute('aria-current')).toBe(false);
    }
    expect(within(screen.getByTestId('conversation-list')).getByRole('heading').textContent).toBe(
      'All inboxes',
    );
  });

  it('moves the selection and the list header to the view that was clicked', async () => {
    render(App);
    const sidebar = within(screen.getByTestId('sidebar'));

    await fireEvent.click(sidebar.getByRole('button', { name: 'Escalated' }));

    expect(sidebar.getByRole('button', { name: 'Escalated' }).getAttribute('aria-current')).toBe(
      'page',
    );
    expect(sidebar.getByRole('button', { name: 'All inboxes' }).hasAttribute('aria-current')).toBe(
      false,
    );
    expect(within(screen.getByTestId('conversation-list')).getByRole('heading').textContent).toBe(
      'Escalated',
    );
  });

  it('says there are no accounts and offers a disabled "Add account" button that is coming soon', () => {
    render(App);
    const sidebar = within(screen.getByTestId('sidebar'));

    expect(sidebar.getByText('Accounts')).toBeTruthy();
    expect(sidebar.getByText('No accounts yet')).toBeTruthy();
    const add = sidebar.getByRole('button', { name: 'Add account' }) as HTMLButtonElement;
    expect(add.disabled).toBe(true);
    expect(add.title).toBe('Coming soon');
  });

  it('shows the connection status as Offline', () => {
    render(App);

    const status = screen.getByTestId('connection-status');
    expect(status.textContent?.trim()).toBe('Offline');
    expect(screen.getByTestId('sidebar').contains(status)).toBe(true);
  });

  it('shows a disabled conversation search and the empty conversation list', () => {
    render(App);
    const list = within(screen.getByTestId('conversation-list'));

    const search = list.getByPlaceholderText('Search conversations') as HTMLInputElement;
    expect(search.disabled).toBe(true);
    expect(list.getByText('No conversations yet')).toBeTruthy();
  });

  it('shows the empty state in the conversation pane', () => {
    render(App);

    const emptyState = screen.getByTestId('empty-state');
    expect(screen.getByTestId('conversation-pane').contains(emptyState)).toBe(true);
    expect(within(emptyState).getByRole('heading', { name: 'Select a conversation' })).toBeTruthy();
    expect(emptyState.textContent).toContain(
      'Messages from WhatsApp, Instagram and Messenger appear here once an account is connected.',
    );
  });
});

describe('App version in the sidebar footer', () => {
  it('shows v{version} from the app_info command', async () => {
    invokeMock.mockResolvedValue({ name: 'ventana', version: '1.2.3' });

    render(App);

    await waitFor(() => expect(screen.getByTestId('app-version').textContent?.trim()).toBe('v1.2.3'));
    expect(invokeMock).toHaveBeenCalledWith('app_info');
    expect(screen.getByTestId('sidebar').contains(screen.getByTestId('app-version'))).toBe(true);
  });

  it('shows "version unavailable" with the error message as title when app_info fails', async () => {
    invokeMock.mockRejectedValue({ code: 'internal', message: 'boom' });

    render(App);

    await waitFor(() =>
      expect(screen.getByTestId('app-version').textContent?.trim()).toBe('version unavailable'),
    );
    expect(screen.getByTestId('app-version').title).toContain('boom');
    // The rest of the UI is still there.
    expect(screen.getByTestId('empty-state')).toBeTruthy();
  });

  it('shows "version unavailable" instead of crashing when run outside Tauri', async () => {
    const core = await vi.importActual<typeof import('@tauri-apps/api/core')>('@tauri-apps/api/core');
    invokeMock.mockImplementation(core.invoke);

    render(App);

    await waitFor(() =>
      expect(screen.getByTestId('app-version').textContent?.trim()).toBe('version unavailable'),
    );
    expect(screen.getByTestId('app-version').title).toMatch(/Tauri/);
    expect(screen.getByTestId('conversation-list')).toBeTruthy();
  });
});
