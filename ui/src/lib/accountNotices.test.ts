import { afterEach, describe, expect, it } from 'vitest';
import type { AccountNotice } from './api';
import { noticeView, signedOutText, withNotice } from './accountNotices';
import { setLanguage } from './i18n';

afterEach(() => setLanguage('en'));

const base = { id: 1, account: 'acc1', tenant_name: 'Acme', agent_email: 'bo@acme.test' };

describe('signedOutText', () => {
  it('says each reason of docs/accounts.md in words, with the tenant', () => {
    const table: [string, string][] = [
      ['access_removed', 'Your access to Acme was removed by an admin.'],
      ['access_disabled', 'Your access to Acme was disabled by an admin.'],
      ['password_changed', 'Your password for Acme was changed. Sign in again.'],
      ['session_revoked', 'An admin signed you out of Acme.'],
      ['session_reused', 'You were signed out of Acme for your security.'],
      ['session_expired', 'Your session at Acme expired. Sign in again.'],
      ['signed_out', 'You signed out of Acme.'],
      ['invalid_refresh_token', 'Sign in to Acme again.'],
      ['a_code_from_a_newer_relay', 'You were signed out of Acme.'],
    ];
    for (const [code, words] of table) expect(signedOutText(code, 'Acme')).toBe(words);
  });

  it('speaks Spanish too', () => {
    setLanguage('es');
    expect(signedOutText('access_removed', 'Acme')).toBe('Un administrador eliminó tu acceso a Acme.');
    expect(signedOutText('session_expired', 'Acme')).toBe('Tu sesión en Acme caducó. Vuelve a iniciar sesión.');
  });
});

describe('noticeView', () => {
  it('says the cache is gone when the tenant required it', () => {
    const notice: AccountNotice = {
      ...base,
      kind: 'signed_out',
      code: 'access_removed',
      message: 'removed',
      cache_removed: true,
    };
    const view = noticeView(notice);
    expect(view.lines[0]).toBe('Your access to Acme was removed by an admin.');
    expect(view.lines[1]).toContain('deleted from this computer');
    expect(view.tone).toBe('danger');
    expect(noticeView({ ...notice, cache_removed: false }).lines[1]).toContain('can still be read');
  });

  it('tells the agent the cache is loaded again after a resync, and what was kept', () => {
    const view = noticeView({ ...base, kind: 'resync', kept: 2 });
    expect(view.lines.join(' ')).toContain('being loaded again');
    expect(view.lines.join(' ')).toContain('2 replies');
    expect(noticeView({ ...base, kind: 'resync', kept: 0 }).lines).toHaveLength(1);
    expect(noticeView({ ...base, kind: 'replies_lost', count: 3 }).lines[0]).toContain('3 replies');
  });

  it('explains an expired copy', () => {
    const view = noticeView({ ...base, kind: 'expired', days: 30, signed_in: false });
    expect(view.lines[0]).toContain('more than 30 days');
    expect(view.lines).toHaveLength(1);
  });
});

describe('withNotice', () => {
  it('adds a notice once', () => {
    const notice: AccountNotice = { ...base, kind: 'resync', kept: 0 };
    expect(withNotice(withNotice([], notice), notice)).toHaveLength(1);
  });
});
