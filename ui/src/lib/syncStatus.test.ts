import { describe, expect, it } from 'vitest';
import { syncView } from './syncStatus';

describe('syncView', () => {
  it('shows catch-up progress as applied of head', () => {
    const view = syncView({ state: 'catching_up', applied: 250, head: 1000 }, 0, 0);
    expect(view.progress).toBe(0.25);
    expect(view.text).toBe('Catching up 250 of 1000');
  });

  it('counts the retry down from when the state arrived', () => {
    const state = { state: 'offline' as const, reason: 'relay unreachable', retry_in_ms: 10_000 };
    expect(syncView(state, 1000, 1000).text).toBe('Offline: relay unreachable, retry in 10 s');
    expect(syncView(state, 1000, 7500).text).toBe('Offline: relay unreachable, retry in 4 s');
    expect(syncView(state, 1000, 99_000).text).toMatch(/retry in 0 s/);
  });

  it('says why the relay signed the account out, in words', () => {
    const state = { state: 'signed_out' as const, code: 'access_disabled', reason: 'disabled' };
    expect(syncView(state, 0, 0, 'Acme').text).toBe('Your access to Acme was disabled by an admin.');
    expect(syncView(state, 0, 0, 'Acme').tone).toBe('signed_out');
    expect(syncView({ state: 'password_change_required' }, 0, 0).text).toBe('Choose a new password');
  });

  it('is live or offline', () => {
    expect(syncView({ state: 'live', head: 3 }, 0, 0).tone).toBe('live');
    expect(syncView(undefined, 0, 0).text).toBe('Offline');
  });
});
