import { describe, expect, it } from 'vitest';
import type { ContactProfile } from './api';
import { eraseConfirmed, openBelongsTo } from './erasure';
import { canEditChannels, canErase } from './roles';

const profile: ContactProfile = {
  id: 'k1',
  name: 'Ana',
  channel: { id: 'ch1', kind: 'whatsapp', name: 'WA' },
  opted_out: false,
  consent_changed_at: null,
  first_seen_at: null,
  last_seen_at: null,
  conversations: [{ id: 'c1', status: 'open', last_activity_at: null }],
  messages: 3,
  attachments: 0,
};

describe('erasure', () => {
  it('is confirmed by exactly ERASE', () => {
    expect(['ERASE', 'erase', ' ERASE', 'ERASE ', 'ERAS', ''].map(eraseConfirmed)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('closes the open conversation only when it was the erased contact’s', () => {
    expect(openBelongsTo({ account: 'a', conversation: 'c1' }, 'a', profile)).toBe(true);
    expect(openBelongsTo({ account: 'b', conversation: 'c1' }, 'a', profile)).toBe(false);
    expect(openBelongsTo({ account: 'a', conversation: 'c2' }, 'a', profile)).toBe(false);
    expect(openBelongsTo(null, 'a', profile)).toBe(false);
  });
});

describe('roles', () => {
  it('lets admins erase and change channels, and agents neither', () => {
    expect([canErase('admin'), canEditChannels('admin')]).toEqual([true, true]);
    expect([canErase('agent'), canEditChannels('agent'), canErase('')]).toEqual([false, false, false]);
  });
});
