/**
 * How the reply window reads in the UI: the inbox label, the composer's line and the
 * countdown. Pure: the current time is an argument, so a ticking clock just re-calls these.
 */
import type { ReplyWindow } from './api';
import { t } from './i18n';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A remaining duration in its largest whole unit, rounded down except minutes, which round
 * up so the last minute reads "1 min" rather than "0 min": "5 d", "3 h", "42 min".
 */
export function formatLeft(ms: number): string {
  if (ms >= DAY) return `${Math.floor(ms / DAY)} d`;
  if (ms >= HOUR) return `${Math.floor(ms / HOUR)} h`;
  return `${Math.max(1, Math.ceil(ms / MINUTE))} min`;
}

/** Milliseconds until the window's mode changes, or `null` if it never will. */
export function msLeft(window: ReplyWindow, now: number): number | null {
  if (!window.changes_at) return null;
  return Date.parse(window.changes_at) - now;
}

export type WindowTone = 'open' | 'tagged' | 'template' | 'closed' | 'unknown';

export interface WindowLabel {
  text: string;
  tone: WindowTone;
  /** The mode has changed since the engine computed it: reload the conversation. */
  stale: boolean;
}

function left(window: ReplyWindow, now: number): { text: string; stale: boolean } {
  const ms = msLeft(window, now);
  if (ms === null) return { text: '', stale: false };
  if (ms <= 0) return { text: t('window.ended'), stale: true };
  return { text: formatLeft(ms), stale: false };
}

/** The short label in the inbox row and the conversation header. */
export function windowLabel(window: ReplyWindow | null | undefined, now: number): WindowLabel {
  if (!window) return { text: t('window.unknown'), tone: 'unknown', stale: false };
  const mode = window.mode;
  switch (mode.mode) {
    case 'standard': {
      const l = left(window, now);
      if (!window.changes_at) return { text: t('window.standardOpen'), tone: 'open', stale: false };
      if (l.stale) return { text: `${t('window.standardOpen')}: ${l.text}`, tone: 'open', stale: true };
      return { text: t('window.standard', { left: l.text }), tone: 'open', stale: false };
    }
    case 'human_agent': {
      const l = left(window, now);
      if (l.stale) return { text: `HUMAN_AGENT: ${l.text}`, tone: 'tagged', stale: true };
      return { text: t('window.humanAgent', { left: l.text || '∞' }), tone: 'tagged', stale: false };
    }
    case 'template_only':
      return { text: t('window.templateOnly'), tone: 'template', stale: false };
    case 'closed':
      return { text: closedText(mode.reason), tone: 'closed', stale: false };
    default:
      return { text: t('window.unknown'), tone: 'unknown', stale: false };
  }
}

function closedText(reason: string): string {
  switch (reason) {
    case 'expired':
      return t('window.closed.expired');
    case 'no_customer_message':
      return t('window.closed.no_customer_message');
    case 'human_agent_only':
      return t('window.closed.human_agent_only');
    case 'human_agent_not_approved':
      return t('window.closed.human_agent_not_approved');
    default:
      return `${t('window.unknown')}: ${reason}`;
  }
}

/** What the composer offers: free text, a template picker, or nothing. */
export type ComposerMode = 'text' | 'template' | 'closed';

export function composerMode(window: ReplyWindow | null | undefined): ComposerMode {
  switch (window?.mode.mode) {
    case 'standard':
    case 'human_agent':
      return 'text';
    case 'template_only':
      return 'template';
    case 'closed':
      return 'closed';
    default:
      // Without a window the engine decides at send time; let the agent type.
      return 'text';
  }
}

/** The line above the composer saying how the reply goes out. */
export function composerLine(window: ReplyWindow | null | undefined, now: number): string {
  if (!window) return t('composer.standard');
  const mode = window.mode;
  switch (mode.mode) {
    case 'standard': {
      const ms = msLeft(window, now);
      return ms === null || ms <= 0
        ? t('composer.standard')
        : t('composer.standardLeft', { left: formatLeft(ms) });
    }
    case 'human_agent': {
      const ms = msLeft(window, now);
      return t('composer.humanAgent', { left: ms === null ? '∞' : formatLeft(Math.max(ms, 0)) });
    }
    case 'template_only':
      return t('composer.templateOnly');
    case 'closed':
      return t('composer.closed', { reason: closedText(mode.reason) });
    default:
      return t('composer.standard');
  }
}
