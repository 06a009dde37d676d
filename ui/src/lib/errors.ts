/** Command errors in words the agent can act on, chosen by the error's code. */
import { toCommandError } from './api';
import { t, type MessageKey } from './i18n';

const KNOWN: Record<string, MessageKey> = {
  wrong_credentials: 'errors.wrong_credentials',
  relay_unreachable: 'errors.relay_unreachable',
  keyring_unavailable: 'errors.keyring_unavailable',
  no_tauri: 'errors.no_tauri',
  not_found: 'errors.not_found',
  not_retryable: 'errors.not_retryable',
  empty_reply: 'errors.empty_reply',
  confirmation_required: 'errors.confirmation_required',
  forbidden: 'errors.forbidden',
  last_admin: 'errors.last_admin',
  conflict: 'errors.conflict',
  wrong_password: 'errors.wrong_password',
  password_mismatch: 'errors.password_mismatch',
  password_too_short: 'errors.password_too_short',
  password_unchanged: 'errors.password_unchanged',
  password_change_required: 'errors.password_change_required',
  signed_out: 'errors.signed_out',
};

export function errorText(error: unknown): string {
  const { code, message } = toCommandError(error);
  const key = KNOWN[code];
  // The keyring's own reason is what a user (or their IT) needs to fix it.
  if (key && code === 'keyring_unavailable' && message) return `${t(key)} (${message})`;
  if (key) return t(key);
  // Codes without their own words: the engine's message is already meant for people.
  return message ? message : t('errors.unknown', { message: code });
}
