/** An account's connection state in words, with the progress of a catch-up. */
import { signedOutText } from './accountNotices';
import type { SyncState } from './api';
import { t } from './i18n';

export type SyncTone = 'live' | 'busy' | 'offline' | 'signed_out';

export interface SyncView {
  text: string;
  tone: SyncTone;
  /** 0..1 while catching up. */
  progress: number | null;
}

/**
 * `since` is when the state arrived, so the retry countdown runs down from `retry_in_ms`
 * without the engine re-sending it. `tenant` names the account in a sign-out's words.
 */
export function syncView(state: SyncState | undefined, since: number, now: number, tenant = ''): SyncView {
  switch (state?.state) {
    case 'live':
      return { text: t('sync.live'), tone: 'live', progress: null };
    case 'catching_up': {
      const progress = state.head > 0 ? Math.min(1, state.applied / state.head) : 0;
      return {
        text: t('sync.catchingUp', { applied: state.applied, head: state.head }),
        tone: 'busy',
        progress,
      };
    }
    case 'offline': {
      const seconds = Math.max(0, Math.ceil((state.retry_in_ms - (now - since)) / 1000));
      return { text: t('sync.offline', { reason: state.reason, seconds }), tone: 'offline', progress: null };
    }
    case 'signed_out':
      // The relay's reason in the agent's words (docs/accounts.md), not its English.
      return { text: signedOutText(state.code, tenant), tone: 'signed_out', progress: null };
    case 'password_change_required':
      return { text: t('sync.passwordChange'), tone: 'signed_out', progress: null };
    case 'stopped':
      return { text: t('sync.stopped'), tone: 'offline', progress: null };
    case 'connecting':
      return { text: t('sync.connecting'), tone: 'busy', progress: null };
    default:
      return { text: t('sync.offlineShort'), tone: 'offline', progress: null };
  }
}

/** A sync state with the moment it arrived (for the retry countdown). */
export interface SyncEntry {
  state: SyncState;
  since: number;
}
