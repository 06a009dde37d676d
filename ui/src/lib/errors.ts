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
};

export function errorText(error: unknown): string {
  const { code, message } = toCommandError(error);
  const key = KNOWN[code];
  if (key) return t(key);
  // Codes without their own words: the engine's message is already meant for people.
  return message ? message : t('errors.unknown', { message: code });
}
