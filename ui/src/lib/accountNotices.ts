/**
 * What the agent reads when an account was signed out by the relay, started over, or
 * deleted for being too old: words chosen by the engine's codes, with the tenant's name.
 * Pure, so the table of docs/accounts.md is tested in both languages.
 */
import type { AccountNotice } from './api';
import { t, type MessageKey } from './i18n';

/** The codes docs/accounts.md gives a refused refresh or a `signed_out` frame. */
const SIGNED_OUT: Record<string, MessageKey> = {
  access_removed: 'signedOut.access_removed',
  access_disabled: 'signedOut.access_disabled',
  password_changed: 'signedOut.password_changed',
  session_revoked: 'signedOut.session_revoked',
  session_reused: 'signedOut.session_reused',
  session_expired: 'signedOut.session_expired',
  signed_out: 'signedOut.signed_out',
  invalid_refresh_token: 'signedOut.invalid_refresh_token',
};

/** Why an account was signed out, in words ("Your access to Acme was removed by an admin."). */
export function signedOutText(code: string | null | undefined, tenant: string): string {
  const key = (code && SIGNED_OUT[code]) || 'signedOut.other';
  return t(key, { tenant });
}

export interface NoticeView {
  title: string;
  lines: string[];
  tone: 'danger' | 'info';
}

export function noticeView(notice: AccountNotice): NoticeView {
  const tenant = notice.tenant_name;
  switch (notice.kind) {
    case 'signed_out':
      return {
        title: t('signedOut.title', { tenant }),
        lines: [
          signedOutText(notice.code, tenant),
          notice.cache_removed ? t('signedOut.cacheRemoved', { tenant }) : t('signedOut.cacheKept'),
        ],
        tone: 'danger',
      };
    case 'resync':
      return {
        title: t('notice.resyncTitle', { tenant }),
        lines: [
          t('notice.resync', { tenant }),
          ...(notice.kept > 0 ? [t('notice.resyncKept', { count: notice.kept })] : []),
        ],
        tone: 'info',
      };
    case 'replies_lost':
      return {
        title: t('notice.repliesLostTitle'),
        lines: [t('notice.repliesLost', { count: notice.count, tenant })],
        tone: 'danger',
      };
    case 'expired':
      return {
        title: t('notice.expiredTitle', { tenant }),
        lines: [
          t('notice.expired', { tenant, days: notice.days }),
          ...(notice.signed_in ? [t('notice.expiredSignedIn')] : []),
        ],
        tone: 'info',
      };
    default:
      return { title: tenant, lines: [], tone: 'info' };
  }
}

/** Adds a notice that arrived as an update, once (it may also come with the first load). */
export function withNotice(list: AccountNotice[], notice: AccountNotice): AccountNotice[] {
  return list.some((n) => n.id === notice.id) ? list : [...list, notice];
}
