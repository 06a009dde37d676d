import { describe, expect, it } from 'vitest';
import { errorText } from './errors';

describe('errorText', () => {
  it('puts sign-in failures in words', () => {
    expect(errorText({ code: 'wrong_credentials', message: '401' })).toBe(
      'The email or password is wrong.',
    );
    expect(errorText({ code: 'relay_unreachable', message: 'dns' })).toMatch(/cannot be reached/);
    expect(errorText({ code: 'keyring_unavailable', message: 'x' })).toMatch(/keyring/);
    expect(errorText({ code: 'keyring_unavailable', message: 'no default collection' })).toContain(
      '(no default collection)',
    );
  });

  it("puts the relay's team refusals in words", () => {
    expect(errorText({ code: 'last_admin', message: 'x' })).toBe('A tenant needs at least one active admin.');
    expect(errorText({ code: 'wrong_password', message: 'x' })).toBe('The current password is wrong.');
    expect(errorText({ code: 'password_too_short', message: 'x' })).toMatch(/10 characters/);
  });

  it("falls back to the engine's message for other codes", () => {
    expect(errorText({ code: 'outside_window', message: 'The 24 h window closed.' })).toBe(
      'The 24 h window closed.',
    );
    expect(errorText(new Error('boom'))).toBe('boom');
  });
});
