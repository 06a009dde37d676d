import { describe, expect, it } from 'vitest';
import type { ChannelInfo } from './api';
import { channelChange, formFor, parseCount, parseList, settingsFrom, tokenPlaceholder } from './channelForm';

function channel(extra: Partial<ChannelInfo> = {}): ChannelInfo {
  return {
    id: 'ch1',
    kind: 'whatsapp',
    display_name: 'Acme WA',
    human_agent_approved: false,
    needs_reconnection: null,
    external_id: 'p1',
    has_token: true,
    waba_id: null,
    settings: {
      escalation: {
        keywords: ['human', 'agente'],
        customer_waiting_minutes: 30,
        window_closing_minutes: null,
        on_failed_send: true,
      },
      business_hours: {
        timezone: 'Europe/Madrid',
        days: [
          { day: 'tue', open: '10:00', close: '14:00' },
          { day: 'mon', open: '09:00', close: '18:00' },
        ],
      },
      opt_out: { stop: ['STOP', 'BAJA'], resume: ['START'] },
      retention_days: 90,
    },
    ...extra,
  };
}

describe('formFor', () => {
  it('never prefills the token and shows every setting as text', () => {
    const form = formFor(channel(), 'UTC');
    expect(form.token).toBe('');
    expect(form.keywords).toBe('human, agente');
    expect(form.closingMinutes).toBe('');
    expect(form.days.tue).toEqual({ open: true, from: '10:00', to: '14:00' });
    expect(form.days.sun.open).toBe(false);
    expect(form.retentionDays).toBe('90');
  });
});

describe('channelChange', () => {
  it('sends nothing when nothing changed, even with days listed out of order', () => {
    const c = channel();
    expect(channelChange(c, formFor(c, 'UTC'))).toEqual({ ok: true, change: {} });
  });

  it('sends only the fields that changed', () => {
    const c = channel();
    const form = { ...formFor(c, 'UTC'), displayName: '  Acme Support ', humanAgent: true };
    expect(channelChange(c, form)).toEqual({
      ok: true,
      change: { display_name: 'Acme Support', human_agent_approved: true },
    });
  });

  it('sends the token only when one was typed', () => {
    const c = channel();
    expect(channelChange(c, { ...formFor(c, 'UTC'), token: '   ' })).toEqual({ ok: true, change: {} });
    expect(channelChange(c, { ...formFor(c, 'UTC'), token: 'EAAB123' })).toEqual({
      ok: true,
      change: { access_token: 'EAAB123' },
    });
  });

  it('sends the complete settings when any of them changed', () => {
    const c = channel();
    const form = { ...formFor(c, 'UTC'), keywords: 'human, agente,\npersona', retentionDays: '' };
    const result = channelChange(c, form);
    expect(result).toEqual({
      ok: true,
      change: {
        settings: {
          ...c.settings,
          escalation: { ...c.settings.escalation, keywords: ['human', 'agente', 'persona'] },
          business_hours: {
            timezone: 'Europe/Madrid',
            days: [
              { day: 'mon', open: '09:00', close: '18:00' },
              { day: 'tue', open: '10:00', close: '14:00' },
            ],
          },
          retention_days: null,
        },
      },
    });
  });

  it('turns business hours off and on', () => {
    const c = channel();
    const off = channelChange(c, { ...formFor(c, 'UTC'), alwaysOpen: true });
    expect(off.ok && off.change.settings?.business_hours).toBeNull();

    const always = channel({ settings: { ...c.settings, business_hours: null } });
    const form = formFor(always, 'America/Mexico_City');
    expect(channelChange(always, form)).toEqual({ ok: true, change: {} });
    form.alwaysOpen = false;
    form.days.fri.open = true;
    const on = channelChange(always, form);
    expect(on.ok && on.change.settings?.business_hours).toEqual({
      timezone: 'America/Mexico_City',
      days: [{ day: 'fri', open: '09:00', close: '18:00' }],
    });
  });

  it('names the number field that does not parse', () => {
    const c = channel();
    expect(channelChange(c, { ...formFor(c, 'UTC'), waitingMinutes: '30 min' })).toEqual({
      ok: false,
      field: 'waitingMinutes',
    });
  });
});

describe('parsing', () => {
  it('splits keyword lists on commas and lines, keeping phrases', () => {
    expect(parseList(' talk to a person, human\n\n,agente ')).toEqual(['talk to a person', 'human', 'agente']);
  });

  it('reads counts: empty is none, digits a number, the rest nothing', () => {
    expect([parseCount(''), parseCount(' 15 '), parseCount('-1'), parseCount('1.5')]).toEqual([
      null,
      15,
      undefined,
      undefined,
    ]);
  });

  it('round-trips settings through the form', () => {
    const c = channel({ settings: { ...channel().settings, business_hours: null } });
    expect(settingsFrom(formFor(c, 'UTC'))).toEqual({ settings: c.settings });
  });
});

describe('tokenPlaceholder', () => {
  it('asks for a new token when the channel needs re-connection', () => {
    expect(tokenPlaceholder(channel({ needs_reconnection: 'token expired' }))).toBe('channels.tokenReconnect');
    expect(tokenPlaceholder(channel())).toBe('channels.tokenSet');
    expect(tokenPlaceholder(channel({ has_token: false }))).toBe('channels.tokenNone');
  });
});
