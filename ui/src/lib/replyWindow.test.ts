import { beforeEach, describe, expect, it } from 'vitest';
import type { ReplyWindow } from './api';
import { setLanguage } from './i18n';
import { composerLine, composerMode, formatLeft, windowLabel } from './replyWindow';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const H = 3_600_000;
const at = (ms: number) => new Date(NOW + ms).toISOString();

function w(mode: ReplyWindow['mode'], changesIn: number | null): ReplyWindow {
  return {
    mode,
    since: null,
    changes_at: changesIn === null ? null : at(changesIn),
    templates: 'not_on_channel',
  };
}

beforeEach(() => setLanguage('en'));

describe('formatLeft', () => {
  it.each([
    [5 * 24 * H + 3 * H, '5 d'],
    [24 * H, '1 d'],
    [3 * H + 20 * 60_000, '3 h'],
    [H, '1 h'],
    [42 * 60_000 + 1, '43 min'],
    [10_000, '1 min'],
  ])('%d ms reads %s', (ms, text) => {
    expect(formatLeft(ms)).toBe(text);
  });
});

describe('windowLabel', () => {
  it('counts down the 24 h window', () => {
    expect(windowLabel(w({ mode: 'standard' }, 3 * H + 5 * 60_000), NOW).text).toBe(
      '24 h window: 3 h left',
    );
  });

  it('counts down HUMAN_AGENT in days', () => {
    const label = windowLabel(w({ mode: 'human_agent' }, 5 * 24 * H + H), NOW);
    expect(label.text).toBe('HUMAN_AGENT: 5 d left');
    expect(label.tone).toBe('tagged');
  });

  it('moves with the clock', () => {
    const window = w({ mode: 'standard' }, 2 * H);
    expect(windowLabel(window, NOW).text).toBe('24 h window: 2 h left');
    expect(windowLabel(window, NOW + H + 30 * 60_000).text).toBe('24 h window: 30 min left');
  });

  it('is stale once changes_at has passed', () => {
    expect(windowLabel(w({ mode: 'standard' }, H), NOW + 2 * H).stale).toBe(true);
    expect(windowLabel(w({ mode: 'standard' }, H), NOW).stale).toBe(false);
  });

  it('names template-only and closed windows', () => {
    expect(windowLabel(w({ mode: 'template_only' }, null), NOW).text).toBe('Template only');
    expect(windowLabel(w({ mode: 'closed', reason: 'expired' }, null), NOW).text).toBe(
      'Closed: more than 7 days',
    );
    expect(windowLabel(w({ mode: 'closed', reason: 'no_customer_message' }, null), NOW).tone).toBe(
      'closed',
    );
  });

  it('says when there is no window', () => {
    expect(windowLabel(null, NOW).text).toBe('Reply window unknown');
  });

  it('speaks Spanish when asked', () => {
    setLanguage('es-AR');
    expect(windowLabel(w({ mode: 'standard' }, 3 * H), NOW).text).toBe('Ventana de 24 h: quedan 3 h');
  });
});

describe('composer', () => {
  it('chooses text, template or closed from the mode', () => {
    expect(composerMode(w({ mode: 'standard' }, H))).toBe('text');
    expect(composerMode(w({ mode: 'human_agent' }, H))).toBe('text');
    expect(composerMode(w({ mode: 'template_only' }, null))).toBe('template');
    expect(composerMode(w({ mode: 'closed', reason: 'expired' }, null))).toBe('closed');
  });

  it('says how the reply goes out', () => {
    expect(composerLine(w({ mode: 'human_agent' }, 5 * 24 * H + 1), NOW)).toBe(
      'Sent with the HUMAN_AGENT tag, 5 d left',
    );
    expect(composerLine(w({ mode: 'closed', reason: 'expired' }, null), NOW)).toBe(
      'You cannot reply: Closed: more than 7 days',
    );
    expect(composerLine(w({ mode: 'template_only' }, null), NOW)).toMatch(/^Template only/);
  });
});
