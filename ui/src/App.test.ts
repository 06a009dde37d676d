import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';
import type { AccountView, EngineUpdate, InboxRow } from './lib/api';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));

// jsdom has no ResizeObserver (bind:clientHeight uses it); WebKit does.
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
} as unknown as typeof ResizeObserver;

// The event bridge: tests push `engine-update` payloads through `emit`.
const listeners = new Map<string, (event: { payload: unknown }) => void>();
vi.mock('@tauri-apps/api/event', () => ({
  listen: vi.fn(async (name: string, handler: (event: { payload: unknown }) => void) => {
    listeners.set(name, handler);
    return () => listeners.delete(name);
  }),
}));
const emit = (update: EngineUpdate) => listeners.get('engine-update')?.({ payload: update });

const invokeMock = vi.mocked(invoke);

const ACCOUNT: AccountView = {
  id: 'acc1',
  relay_url: 'https://relay.test',
  tenant_id: 't',
  tenant_name: 'Acme',
  agent_id: 'ag',
  agent_email: 'ana@acme.test',
  role: 'agent',
  muted: false,
  signed_in: true,
  must_change_password: false,
  label: 'Acme (ana)',
  sync: { state: 'live', head: 10 },
  queued: 0,
  unread: 1,
};

function row(id: string, at: string, extra: Partial<InboxRow> = {}): InboxRow {
  return {
    account: 'acc1',
    id,
    channel: { id: 'ch1', kind: 'messenger', name: 'Acme Page' },
    contact_id: `contact-${id}`,
    contact_name: `Contact ${id}`,
    opted_out: false,
    last_activity_at: at,
    last_customer_message_at: at,
    last_message: { direction: 'in', kind: 'text', text: `hello from ${id}`, state: 'received', unsent: false },
    unread: 0,
    status: 'open',
    snoozed_until: null,
    assignee: null,
    labels: [],
    escalation: null,
    escalated_at: null,
    window: {
      mode: { mode: 'standard' },
      since: at,
      changes_at: new Date(Date.now() + 3 * 3_600_000 + 60_000).toISOString(),
      templates: 'not_on_channel',
    },
    ...extra,
  };
}

/** A fake engine: answers each command from `state`. */
let state: { accounts: AccountView[]; inbox: InboxRow[] };
let handlers: Record<string, (args: Record<string, unknown>) => unknown>;

beforeEach(() => {
  listeners.clear();
  state = { accounts: [], inbox: [] };
  handlers = {
    app_info: () => ({ name: 'ventana', version: '0.0.0-test' }),
    accounts: () => state.accounts,
    inbox: () => state.inbox,
    conversation: (args) => state.inbox.find((r) => r.id === args.conversation) ?? null,
    messages: () => [],
    notes: () => [],
    mark_read: () => null,
    account_notices: () => [],
  };
  invokeMock.mockReset();
  invokeMock.mockImplementation(async (command: string, args?: unknown) => {
    const handler = handlers[command];
    if (!handler) throw { code: 'not_mocked', message: command };
    return handler((args ?? {}) as Record<string, unknown>);
  });
  (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = {};
});

afterEach(() => {
  delete (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__;
});

describe('App shell', () => {
  it('renders the sidebar, the conversation list and the conversation pane inside the shell', () => {
    render(App);

    const shell = screen.getByTestId('app-shell');
    for (const id of ['sidebar', 'conversation-list', 'conversation-pane']) {
      expect(shell.contains(screen.getByTestId(id))).toBe(true);
    }
    expect(within(screen.getByTestId('empty-state')).getByRole('heading').textContent).toBe(
      'Select a conversation',
    );
  });

  it('shows v{version} from the app_info command', async () => {
    render(App);

    await waitFor(() => expect(screen.getByTestId('app-version').textContent?.trim()).toBe('v0.0.0-test'));
  });
});

describe('sign-in', () => {
  it('is shown when there are no accounts and sends what was typed', async () => {
    handlers.sign_in = () => {
      state.accounts = [ACCOUNT];
      return ACCOUNT;
    };
    render(App);

    const relay = (await screen.findByTestId('sign-in-relay')) as HTMLInputElement;
    await fireEvent.input(relay, { target: { value: 'https://relay.test' } });
    await fireEvent.input(screen.getByTestId('sign-in-email'), { target: { value: 'ana@acme.test' } });
    await fireEvent.input(screen.getByTestId('sign-in-password'), { target: { value: 'secret' } });
    await fireEvent.submit(screen.getByTestId('sign-in'));

    await waitFor(() => expect(screen.queryByTestId('sign-in')).toBeNull());
    expect(invokeMock).toHaveBeenCalledWith('sign_in', {
      relayUrl: 'https://relay.test',
      email: 'ana@acme.test',
      password: 'secret',
      tenant: null,
    });
    expect(screen.getByTestId('account').textContent).toContain('Acme (ana)');
  });

  it('says in words that the password is wrong', async () => {
    handlers.sign_in = () => {
      throw { code: 'wrong_credentials', message: 'unauthorized' };
    };
    render(App);

    await fireEvent.submit(await screen.findByTestId('sign-in'));

    expect((await screen.findByTestId('sign-in-error')).textContent).toBe('The email or password is wrong.');
  });
});

describe('inbox', () => {
  beforeEach(() => {
    state.accounts = [ACCOUNT];
    state.inbox = [row('c2', '2026-01-02T10:00:00Z', { unread: 2 }), row('c1', '2026-01-01T10:00:00Z')];
  });

  it('lists the rows with their window countdown and unread badge', async () => {
    render(App);

    const rows = await screen.findAllByTestId('conversation-row');
    expect(rows.map((r) => r.dataset.conversationId)).toEqual(['c2', 'c1']);
    expect(within(rows[0]).getByTestId('window-label').textContent).toBe('24 h window: 3 h left');
    expect(within(rows[0]).getByTestId('unread').textContent).toBe('2');
    expect(rows[0].textContent).toContain('hello from c2');
    expect(screen.getByTestId('connection-status').textContent).toContain('Live');
  });

  it('reloads on an engine update without a manual refresh', async () => {
    render(App);
    await screen.findAllByTestId('conversation-row');

    state.inbox = [row('c3', '2026-01-03T10:00:00Z'), ...state.inbox];
    emit({ type: 'conversations', account: 'acc1', conversations: ['c3'] });

    await waitFor(() =>
      expect(screen.getAllByTestId('conversation-row').map((r) => r.dataset.conversationId)).toEqual([
        'c3',
        'c2',
        'c1',
      ]),
    );
  });

  it('shows the connection state an update reports', async () => {
    render(App);
    await screen.findAllByTestId('conversation-row');

    emit({ type: 'sync', account: 'acc1', state: { state: 'catching_up', applied: 5, head: 10 } });

    await waitFor(() =>
      expect(screen.getByTestId('connection-status').textContent).toContain('Catching up 5 of 10'),
    );
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('50');
  });

  it('opens the next conversation with j and marks it read', async () => {
    render(App);
    await screen.findAllByTestId('conversation-row');

    await fireEvent.keyDown(window, { key: 'j' });

    await waitFor(() => expect(screen.getByTestId('conversation-title').textContent).toBe('Contact c2'));
    expect(invokeMock).toHaveBeenCalledWith('mark_read', { account: 'acc1', conversation: 'c2' });
    expect(screen.getByTestId('composer-window').textContent).toMatch(/Standard reply, 3 h left/);
  });

  it('sends the reply on Enter through compose', async () => {
    handlers.compose = () => ({ key: 'vd-1', rowid: 9 });
    render(App);
    await fireEvent.click((await screen.findAllByTestId('conversation-row'))[0]);

    const input = (await screen.findByTestId('composer-input')) as HTMLTextAreaElement;
    await fireEvent.input(input, { target: { value: 'On its way' } });
    await fireEvent.keyDown(input, { key: 'Enter' });

    await waitFor(() =>
      expect(invokeMock).toHaveBeenCalledWith('compose', {
        account: 'acc1',
        conversation: 'c2',
        draft: { kind: 'text', text: 'On its way' },
      }),
    );
  });

  it('offers only a template picker when the window needs a template', async () => {
    state.inbox = [
      row('c9', '2026-01-02T10:00:00Z', {
        channel: { id: 'wa1', kind: 'whatsapp', name: 'WA' },
        window: { mode: { mode: 'template_only' }, since: null, changes_at: null, templates: 'no_marketing' },
      }),
    ];
    handlers.templates = () => [
      { name: 'order_update', language: 'en', category: 'UTILITY', parameters: 1, body: 'Order {{1}}' },
      { name: 'promo', language: 'en', category: 'MARKETING', parameters: 0, body: 'Sale' },
    ];
    render(App);
    await fireEvent.click((await screen.findAllByTestId('conversation-row'))[0]);

    const picker = (await screen.findByTestId('template-picker')) as HTMLSelectElement;
    await waitFor(() => expect(picker.options.length).toBe(2));
    expect(picker.textContent).toContain('order_update');
    expect(picker.textContent).not.toContain('promo');
    expect(screen.queryByTestId('composer-input')).toBeNull();
  });
});

describe('contact panel', () => {
  const profile = (id: string) => ({
    id: `contact-${id}`,
    name: `Contact ${id}`,
    channel: { id: 'ch1', kind: 'messenger', name: 'Acme Page' },
    opted_out: false,
    consent_changed_at: null,
    first_seen_at: '2026-01-01T10:00:00Z',
    last_seen_at: '2026-01-02T10:00:00Z',
    conversations: [{ id, status: 'open', last_activity_at: '2026-01-02T10:00:00Z' }],
    messages: 1,
    attachments: 0,
  });

  beforeEach(() => {
    state.accounts = [{ ...ACCOUNT, role: 'admin' }];
    state.inbox = [row('c2', '2026-01-02T10:00:00Z'), row('c1', '2026-01-01T10:00:00Z')];
    handlers.contact = (args) => profile(String(args.contact).replace('contact-', ''));
  });

  it('opens from the header and with i, and closes with Escape', async () => {
    render(App);
    await fireEvent.click((await screen.findAllByTestId('conversation-row'))[0]);

    await fireEvent.click(await screen.findByTestId('open-contact'));
    expect((await screen.findByTestId('contact-name')).textContent).toBe('Contact c2');
    await fireEvent.keyDown(window, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByTestId('contact-panel')).toBeNull());

    await fireEvent.keyDown(window, { key: 'i' });
    expect(await screen.findByTestId('contact-panel')).toBeTruthy();
    await fireEvent.keyDown(window, { key: 'j' });
    await waitFor(() => expect(screen.getByTestId('contact-name').textContent).toBe('Contact c1'));
    await fireEvent.click(screen.getByTestId('close-contact'));
    expect(screen.queryByTestId('contact-panel')).toBeNull();
  });

  it('after an erasure clears the open conversation and drops its row', async () => {
    handlers.erase_contact = () => ({ receipt: 'er_1', events_redacted: 3, media_removed: 0 });
    render(App);
    await fireEvent.click((await screen.findAllByTestId('conversation-row'))[0]);
    await fireEvent.click(await screen.findByTestId('open-contact'));

    await fireEvent.click(await screen.findByTestId('erase-contact'));
    await fireEvent.input(screen.getByTestId('erase-confirm-input'), { target: { value: 'ERASE' } });
    await fireEvent.click(screen.getByTestId('erase-confirm-submit'));

    expect((await screen.findByTestId('erase-receipt')).textContent).toContain('er_1');
    expect(screen.getByTestId('empty-state')).toBeTruthy();
    expect(screen.getAllByTestId('conversation-row').map((r) => r.dataset.conversationId)).toEqual(['c1']);
  });
});

describe('small controls', () => {
  beforeEach(() => {
    state.accounts = [ACCOUNT];
    state.inbox = [row('c1', '2026-01-01T10:00:00Z', { labels: ['vip'] })];
    handlers.set_muted = () => null;
    handlers.update_conversation = () => ({ seq: [11] });
  });

  it('mutes an account', async () => {
    render(App);
    const mute = await screen.findByTestId('mute-account');
    expect(mute.getAttribute('aria-pressed')).toBe('false');

    await fireEvent.click(mute);

    expect(invokeMock).toHaveBeenCalledWith('set_muted', { account: 'acc1', muted: true });
    await waitFor(() => expect(screen.getByTestId('mute-account').getAttribute('aria-pressed')).toBe('true'));
  });

  it('adds and removes labels as the complete new set', async () => {
    render(App);
    await fireEvent.click((await screen.findAllByTestId('conversation-row'))[0]);

    const input = await screen.findByTestId('label-input');
    await fireEvent.input(input, { target: { value: 'refund' } });
    await fireEvent.keyDown(input, { key: 'Enter' });
    expect(invokeMock).toHaveBeenCalledWith('update_conversation', {
      account: 'acc1',
      conversation: 'c1',
      change: { labels: ['vip', 'refund'] },
    });
    await waitFor(() => expect(screen.getAllByTestId('label').map((l) => l.textContent?.trim())).toEqual(['vip', 'refund']));

    await fireEvent.click(screen.getAllByTestId('label-remove')[0]);
    expect(invokeMock).toHaveBeenCalledWith('update_conversation', {
      account: 'acc1',
      conversation: 'c1',
      change: { labels: ['refund'] },
    });
  });

  it('opens the channel settings from the sidebar', async () => {
    handlers.channels = () => [];
    render(App);
    await screen.findAllByTestId('conversation-row');

    await fireEvent.click(screen.getByTestId('open-channel-settings'));

    expect(await screen.findByTestId('channel-settings')).toBeTruthy();
    expect(screen.getByTestId('channel-settings-readonly')).toBeTruthy();
    expect(screen.queryByTestId('conversation-pane')).toBeNull();
    await fireEvent.keyDown(window, { key: 'Escape' });
    expect(await screen.findByTestId('conversation-pane')).toBeTruthy();
  });
});

describe('account notices', () => {
  it("says in words that an admin removed the agent's access, and that the cache is gone", async () => {
    render(App);
    await screen.findByTestId('sign-in');

    emit({
      type: 'account_notice',
      id: 1,
      account: 'acc1',
      tenant_name: 'Acme',
      agent_email: 'bo@acme.test',
      kind: 'signed_out',
      code: 'access_removed',
      message: 'an admin removed this agent',
      cache_removed: true,
    });

    const notice = await screen.findByTestId('account-notice');
    expect(notice.textContent).toContain('Your access to Acme was removed by an admin.');
    expect(notice.textContent).toContain('deleted from this computer');
    handlers.dismiss_notice = () => null;
    await fireEvent.click(within(notice).getByTestId('dismiss-notice'));
    await waitFor(() => expect(screen.queryByTestId('account-notice')).toBeNull());
    expect(invokeMock).toHaveBeenCalledWith('dismiss_notice', { id: 1 });
  });

  it('shows the notices the engine kept from before the window opened', async () => {
    handlers.account_notices = () => [
      { id: 7, account: 'acc1', tenant_name: 'Acme', agent_email: 'a', kind: 'resync', kept: 1 },
    ];
    render(App);

    expect((await screen.findByTestId('account-notice')).textContent).toContain('being loaded again');
  });
});

describe('a temporary password', () => {
  it('is changed right after sign-in, before the inbox', async () => {
    state.accounts = [{ ...ACCOUNT, must_change_password: true }];
    handlers.change_password = () => {
      state.accounts = [ACCOUNT];
      return null;
    };
    render(App);

    const dialog = await screen.findByTestId('password-dialog');
    expect(dialog.dataset.forced).toBe('true');
    await fireEvent.input(screen.getByTestId('password-current'), { target: { value: 'temporary-1' } });
    await fireEvent.input(screen.getByTestId('password-new'), { target: { value: 'my own password' } });
    await fireEvent.input(screen.getByTestId('password-again'), { target: { value: 'my own password' } });
    await fireEvent.submit(dialog.querySelector('form')!);

    await waitFor(() => expect(screen.queryByTestId('password-dialog')).toBeNull());
    expect(invokeMock).toHaveBeenCalledWith('change_password', {
      account: 'acc1',
      current: 'temporary-1',
      new: 'my own password',
      again: 'my own password',
    });
  });

  it("shows the relay's refusal in words", async () => {
    state.accounts = [{ ...ACCOUNT, must_change_password: true }];
    handlers.change_password = () => {
      throw { code: 'wrong_password', message: 'the current password is wrong' };
    };
    render(App);

    const dialog = await screen.findByTestId('password-dialog');
    await fireEvent.submit(dialog.querySelector('form')!);
    expect((await screen.findByTestId('password-error')).textContent).toBe('The current password is wrong.');
  });
});

describe('an account the relay signed out', () => {
  it('says why in the sidebar and signs in again with its relay and email filled in', async () => {
    state.accounts = [
      {
        ...ACCOUNT,
        signed_in: false,
        signed_out_code: 'access_disabled',
        sync: { state: 'signed_out', code: 'access_disabled', reason: 'disabled' },
      },
    ];
    render(App);

    await waitFor(() =>
      expect(screen.getByTestId('connection-status').textContent).toContain(
        'Your access to Acme was disabled by an admin.',
      ),
    );
    await fireEvent.click(screen.getByTestId('sign-in-again'));
    expect(((await screen.findByTestId('sign-in-relay')) as HTMLInputElement).value).toBe('https://relay.test');
    expect((screen.getByTestId('sign-in-email') as HTMLInputElement).value).toBe('ana@acme.test');
  });
});
