/**
 * The channel settings form: a channel as editable text, and back to the change the relay
 * takes, holding only what the admin changed. The token is write-only: the form never
 * starts with one, and an empty token field means "keep the current one".
 */
import type { ChannelChange, ChannelInfo, ChannelSettings, DayHours, Weekday } from './api';
import type { MessageKey } from './i18n';

export const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface DayForm {
  open: boolean;
  from: string;
  to: string;
}

export interface ChannelForm {
  displayName: string;
  token: string;
  humanAgent: boolean;
  keywords: string;
  waitingMinutes: string;
  closingMinutes: string;
  onFailedSend: boolean;
  alwaysOpen: boolean;
  timezone: string;
  days: Record<Weekday, DayForm>;
  stopKeywords: string;
  resumeKeywords: string;
  retentionDays: string;
}

/** The fields whose text may not parse; the form names the one at fault. */
export type NumberField = 'waitingMinutes' | 'closingMinutes' | 'retentionDays';

export type FormResult = { ok: true; change: ChannelChange } | { ok: false; field: NumberField };

const DEFAULT_FROM = '09:00';
const DEFAULT_TO = '18:00';

function localZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

const listText = (list: string[]) => list.join(', ');

/** Keywords are typed separated by commas or lines; phrases keep their inner spaces. */
export function parseList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** `''` is "none" (`null`), digits a whole number; anything else does not parse (`undefined`). */
export function parseCount(text: string): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

const countText = (value: number | null) => (value === null ? '' : String(value));

export function formFor(channel: ChannelInfo, zone: string = localZone()): ChannelForm {
  const { escalation, business_hours: hours, opt_out: optOut, retention_days: retention } = channel.settings;
  const days = {} as Record<Weekday, DayForm>;
  for (const day of WEEKDAYS) {
    const span = hours?.days.find((d) => d.day === day);
    days[day] = span
      ? { open: true, from: span.open, to: span.close }
      : { open: false, from: DEFAULT_FROM, to: DEFAULT_TO };
  }
  return {
    displayName: channel.display_name,
    token: '',
    humanAgent: channel.human_agent_approved,
    keywords: listText(escalation.keywords),
    waitingMinutes: countText(escalation.customer_waiting_minutes),
    closingMinutes: countText(escalation.window_closing_minutes),
    onFailedSend: escalation.on_failed_send,
    alwaysOpen: hours === null,
    timezone: hours?.timezone ?? zone,
    days,
    stopKeywords: listText(optOut.stop),
    resumeKeywords: listText(optOut.resume),
    retentionDays: countText(retention),
  };
}

/** The complete settings the form describes, or the number field that does not parse. */
export function settingsFrom(form: ChannelForm): { settings: ChannelSettings } | { field: NumberField } {
  const counts = {} as Record<NumberField, number | null>;
  for (const field of ['waitingMinutes', 'closingMinutes', 'retentionDays'] as const) {
    const value = parseCount(form[field]);
    if (value === undefined) return { field };
    counts[field] = value;
  }
  const days: DayHours[] = WEEKDAYS.filter((day) => form.days[day].open).map((day) => ({
    day,
    open: form.days[day].from,
    close: form.days[day].to,
  }));
  return {
    settings: {
      escalation: {
        keywords: parseList(form.keywords),
        customer_waiting_minutes: counts.waitingMinutes,
        window_closing_minutes: counts.closingMinutes,
        on_failed_send: form.onFailedSend,
      },
      business_hours: form.alwaysOpen ? null : { timezone: form.timezone.trim(), days },
      opt_out: { stop: parseList(form.stopKeywords), resume: parseList(form.resumeKeywords) },
      retention_days: counts.retentionDays,
    },
  };
}

/**
 * What to send for `form` over `channel`: only the fields that differ. The relay takes
 * settings whole, so any change in them sends all of them. An empty change means
 * nothing to save.
 */
export function channelChange(channel: ChannelInfo, form: ChannelForm): FormResult {
  const next = settingsFrom(form);
  if ('field' in next) return { ok: false, field: next.field };
  const change: ChannelChange = {};
  const name = form.displayName.trim();
  if (name !== channel.display_name) change.display_name = name;
  const token = form.token.trim();
  if (token !== '') change.access_token = token;
  if (form.humanAgent !== channel.human_agent_approved) change.human_agent_approved = form.humanAgent;
  // Compared through the form, so a value the form shows the same way is no change.
  const before = settingsFrom(formFor(channel, form.timezone));
  if (!('settings' in before) || JSON.stringify(before.settings) !== JSON.stringify(next.settings)) {
    change.settings = next.settings;
  }
  return { ok: true, change };
}

/** What the write-only token field says while it is empty. */
export function tokenPlaceholder(channel: ChannelInfo): MessageKey {
  if (channel.needs_reconnection) return 'channels.tokenReconnect';
  if (channel.has_token === false) return 'channels.tokenNone';
  return 'channels.tokenSet';
}
