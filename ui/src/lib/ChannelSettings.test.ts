import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import ChannelSettings from './ChannelSettings.svelte';
import type { AccountView, ChannelChange, ChannelInfo } from './api';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

const account = (id: string, role: string) => ({ id, label: id, role }) as AccountView;

function channel(id: string, extra: Partial<ChannelInfo> = {}): ChannelInfo {
  return {
    id,
    kind: 'messenger',
    display_name: `Page ${id}`,
    human_agent_approved: false,
    needs_reconnection: null,
    external_id: 'p1',
    has_token: true,
    waba_id: null,
    settings: {
      escalation: { keywords: ['human'], customer_waiting_minutes: 30, window_closing_minutes: 120, on_failed_send: true },
      business_hours: null,
      opt_out: { stop: ['STOP'], resume: ['START'] },
      retention_days: null,
    },
    ...extra,
  };
}

let update: (change: ChannelChange) => unknown;

beforeEach(() => {
  update = (change) => ({ ...channel('ch1'), ...change, external_id: 'p1', has_token: true, waba_id: null });
  invokeMock.mockReset();
  invokeMock.mockImplementation(async (command: string, args?: unknown) => {
    const a = args as { account: string; change: ChannelChange };
    if (command === 'channels')
      return a.account === 'acc1'
        ? [channel('ch1'), channel('ch2', { needs_reconnection: 'Meta rejected the token (190)' })]
        : [channel('ch9')];
    if (command === 'update_channel') return update(a.change);
    throw { code: 'not_mocked', message: command };
  });
});

async function section(id: string) {
  const sections = await screen.findAllByTestId('channel-section');
  return within(sections.find((s) => s.dataset.channelId === id)!);
}

describe('ChannelSettings', () => {
  it('is read-only for agents: inputs disabled, no save, a note', async () => {
    render(ChannelSettings, { accounts: [account('acc1', 'agent')], account: 'acc1', onclose: vi.fn() });

    const one = await section('ch1');
    expect(screen.getByTestId('channel-settings-readonly').textContent).toContain('Only admins');
    for (const id of ['channel-display-name', 'channel-token', 'channel-human-agent', 'channel-retention']) {
      expect((one.getByTestId(id) as HTMLInputElement).matches(':disabled')).toBe(true);
    }
    expect(screen.queryByTestId('channel-save')).toBeNull();
  });

  it('shows the connection and never prefills the token', async () => {
    render(ChannelSettings, { accounts: [account('acc1', 'admin')], account: 'acc1', onclose: vi.fn() });

    const two = await section('ch2');
    expect(two.getByTestId('channel-needs-reconnection').textContent).toContain('Meta rejected the token (190)');
    const token = two.getByTestId('channel-token') as HTMLInputElement;
    expect(token.type).toBe('password');
    expect(token.value).toBe('');
    expect(token.placeholder).toContain('reconnect');
    expect((await section('ch1')).queryByTestId('channel-needs-reconnection')).toBeNull();
    expect(screen.queryByTestId('channel-settings-readonly')).toBeNull();
  });

  it('saves only what changed and shows it saved', async () => {
    render(ChannelSettings, { accounts: [account('acc1', 'admin')], account: 'acc1', onclose: vi.fn() });
    const one = await section('ch1');
    const save = one.getByTestId('channel-save') as HTMLButtonElement;
    expect(save.disabled).toBe(true);

    await fireEvent.input(one.getByTestId('channel-display-name'), { target: { value: 'Acme Support' } });
    await fireEvent.input(one.getByTestId('channel-token'), { target: { value: 'EAAnew' } });
    await fireEvent.click(one.getByTestId('channel-human-agent'));
    await fireEvent.click(save);

    expect(await one.findByTestId('channel-saved')).toBeTruthy();
    expect(invokeMock).toHaveBeenCalledWith('update_channel', {
      account: 'acc1',
      channel: 'ch1',
      change: { display_name: 'Acme Support', access_token: 'EAAnew', human_agent_approved: true },
    });
    expect((one.getByTestId('channel-token') as HTMLInputElement).value).toBe('');
    expect(one.getByRole('heading').textContent).toBe('Acme Support');
  });

  it('sends the whole settings when a rule changed', async () => {
    render(ChannelSettings, { accounts: [account('acc1', 'admin')], account: 'acc1', onclose: vi.fn() });
    const one = await section('ch1');

    await fireEvent.input(one.getByTestId('channel-escalation-keywords'), { target: { value: 'human, persona' } });
    await fireEvent.click(one.getByTestId('channel-save'));

    await one.findByTestId('channel-saved');
    const sent = invokeMock.mock.calls.find(([command]) => command === 'update_channel')?.[1] as { change: ChannelChange };
    expect(Object.keys(sent.change)).toEqual(['settings']);
    expect(sent.change.settings?.escalation.keywords).toEqual(['human', 'persona']);
    expect(sent.change.settings?.opt_out).toEqual({ stop: ['STOP'], resume: ['START'] });
  });

  it('shows the relay’s validation error and keeps what was typed', async () => {
    update = () => {
      throw { code: 'invalid_settings', message: 'retention_days must be between 1 and 36500' };
    };
    render(ChannelSettings, { accounts: [account('acc1', 'admin')], account: 'acc1', onclose: vi.fn() });
    const one = await section('ch1');

    await fireEvent.input(one.getByTestId('channel-retention'), { target: { value: '99999' } });
    await fireEvent.click(one.getByTestId('channel-save'));

    expect((await one.findByTestId('channel-error')).textContent).toBe('retention_days must be between 1 and 36500');
    expect((one.getByTestId('channel-retention') as HTMLInputElement).value).toBe('99999');
    expect(one.queryByTestId('channel-saved')).toBeNull();
  });

  it('names a number that does not parse without asking the relay', async () => {
    render(ChannelSettings, { accounts: [account('acc1', 'admin')], account: 'acc1', onclose: vi.fn() });
    const one = await section('ch1');

    await fireEvent.input(one.getByTestId('channel-waiting-minutes'), { target: { value: 'soon' } });
    await fireEvent.click(one.getByTestId('channel-save'));

    expect((await one.findByTestId('channel-error')).textContent).toContain('Escalate when the customer has waited');
    expect(invokeMock).not.toHaveBeenCalledWith('update_channel', expect.anything());
  });

  it('switches to another account’s channels', async () => {
    render(ChannelSettings, {
      accounts: [account('acc1', 'admin'), account('acc2', 'agent')],
      account: 'acc1',
      onclose: vi.fn(),
    });
    await section('ch1');

    await fireEvent.change(screen.getByTestId('channel-settings-account'), { target: { value: 'acc2' } });

    expect((await section('ch9')).getByTestId('channel-display-name')).toBeTruthy();
    expect(screen.getByTestId('channel-settings-readonly')).toBeTruthy();
  });
});
