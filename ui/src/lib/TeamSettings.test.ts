import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import TeamSettings from './TeamSettings.svelte';
import type { AccountView, AgentRecord } from './api';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

const account = (role: string) =>
  ({
    id: 'acc1',
    label: 'Acme · ana@acme.test',
    role,
    agent_id: 'ag_ana',
    agent_email: 'ana@acme.test',
    signed_in: true,
  }) as AccountView;

const agent = (id: string, email: string, extra: Partial<AgentRecord> = {}): AgentRecord => ({
  id,
  email,
  name: null,
  role: 'agent',
  status: 'active',
  must_change_password: false,
  created_at: null,
  last_sign_in_at: '2026-11-23T10:00:00Z',
  ...extra,
});

let team: AgentRecord[];
let handlers: Record<string, (args: Record<string, unknown>) => unknown>;

beforeEach(() => {
  team = [agent('ag_ana', 'ana@acme.test', { role: 'admin' }), agent('ag_bo', 'bo@acme.test')];
  handlers = {
    agents: () => team,
    bot_keys: () => [{ id: 'bk1', name: 'helpdesk bot', created_at: null, last_used_at: null, revoked_at: null }],
  };
  invokeMock.mockReset();
  invokeMock.mockImplementation(async (command: string, args?: unknown) => {
    const handler = handlers[command];
    if (!handler) throw { code: 'not_mocked', message: command };
    return handler((args ?? {}) as Record<string, unknown>);
  });
});

const row = async (email: string) => {
  const rows = await screen.findAllByTestId('agent-row');
  return within(rows.find((r) => r.dataset.email === email)!);
};

describe('TeamSettings', () => {
  it('shows an agent only their own password', async () => {
    render(TeamSettings, { accounts: [account('agent')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });

    expect(screen.getByTestId('team-admins-only')).toBeTruthy();
    expect(screen.getByTestId('change-own-password')).toBeTruthy();
    expect(screen.queryByTestId('agents-section')).toBeNull();
    expect(invokeMock).not.toHaveBeenCalledWith('agents', expect.anything());
  });

  it('lists the agents, and offers an admin no way to end their own access', async () => {
    render(TeamSettings, { accounts: [account('admin')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });

    const bo = await row('bo@acme.test');
    expect(bo.getByTestId('agent-remove')).toBeTruthy();
    expect(bo.getByTestId('agent-disable')).toBeTruthy();
    const ana = await row('ana@acme.test');
    expect(ana.queryByTestId('agent-remove')).toBeNull();
    expect(ana.queryByTestId('agent-role')).toBeNull();
  });

  it('removes an agent after a confirmation', async () => {
    handlers.remove_agent = () => {
      team = team.filter((a) => a.id !== 'ag_bo');
      return null;
    };
    render(TeamSettings, { accounts: [account('admin')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });

    await fireEvent.click((await row('bo@acme.test')).getByTestId('agent-remove'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('Remove bo@acme.test?');
    expect(invokeMock).not.toHaveBeenCalledWith('remove_agent', expect.anything());
    await fireEvent.click(within(dialog).getByTestId('confirm-submit'));

    await waitFor(() => expect(screen.getAllByTestId('agent-row')).toHaveLength(1));
    expect(invokeMock).toHaveBeenCalledWith('remove_agent', { account: 'acc1', agent: 'ag_bo' });
  });

  it("says the relay's last_admin refusal in words", async () => {
    handlers.update_agent = () => {
      throw { code: 'last_admin', message: 'the tenant would have no active admin' };
    };
    render(TeamSettings, { accounts: [account('admin')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });

    await fireEvent.click((await row('bo@acme.test')).getByTestId('agent-disable'));
    expect((await screen.findByTestId('team-error')).textContent).toBe('A tenant needs at least one active admin.');
  });

  it('shows a new agent’s temporary password once, and says it must be changed', async () => {
    handlers.add_agent = (args) => {
      const added = agent('ag_cy', String(args.email), { must_change_password: true });
      team = [...team, added];
      return { agent: added, temporary_password: 'tmp-Q8s-71xK' };
    };
    render(TeamSettings, { accounts: [account('admin')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });
    await screen.findAllByTestId('agent-row');

    await fireEvent.input(screen.getByTestId('add-agent-email'), { target: { value: 'cy@acme.test' } });
    await fireEvent.change(screen.getByTestId('add-agent-role'), { target: { value: 'admin' } });
    await fireEvent.submit(screen.getByTestId('add-agent-email').closest('form')!);

    const secret = await screen.findByTestId('one-time-secret');
    expect((within(secret).getByTestId('one-time-secret-value') as HTMLInputElement).value).toBe('tmp-Q8s-71xK');
    expect(secret.textContent).toContain('must change it at their first sign-in');
    expect(invokeMock).toHaveBeenCalledWith('add_agent', { account: 'acc1', email: 'cy@acme.test', role: 'admin', name: null });
    await fireEvent.click(within(secret).getByTestId('one-time-secret-done'));
    await waitFor(() => expect(screen.queryByTestId('one-time-secret')).toBeNull());
    expect(document.body.textContent).not.toContain('tmp-Q8s-71xK');
  });

  it('lists an agent’s sessions and revokes one', async () => {
    let live = [{ id: 's1', created_at: null, last_refreshed_at: null, expires_at: null, idle_expires_at: null, client: 'Ventana' }];
    handlers.agent_sessions = () => live;
    handlers.revoke_agent_session = () => {
      live = [];
      return null;
    };
    render(TeamSettings, { accounts: [account('admin')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });

    await fireEvent.click((await row('bo@acme.test')).getByTestId('agent-sessions'));
    await fireEvent.click(await screen.findByTestId('session-revoke'));

    await waitFor(() => expect(screen.queryByTestId('agent-session')).toBeNull());
    expect(invokeMock).toHaveBeenCalledWith('revoke_agent_session', { account: 'acc1', agent: 'ag_bo', session: 's1' });
  });

  it('rotates a bot key after a confirmation and shows the new key once', async () => {
    handlers.rotate_bot_key = () => ({ id: 'bk1', name: 'helpdesk bot', key: 'vbot_new_123' });
    render(TeamSettings, { accounts: [account('admin')], account: 'acc1', onclose: vi.fn(), onpassword: vi.fn() });

    await fireEvent.click(await screen.findByTestId('bot-key-rotate'));
    await fireEvent.click(within(await screen.findByTestId('confirm-dialog')).getByTestId('confirm-submit'));

    const secret = await screen.findByTestId('one-time-secret');
    expect((within(secret).getByTestId('one-time-secret-value') as HTMLInputElement).value).toBe('vbot_new_123');
  });
});
