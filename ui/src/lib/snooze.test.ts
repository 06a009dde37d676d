import { describe, expect, it } from 'vitest';
import { snoozeUntil } from './snooze';

describe('snoozeUntil', () => {
  it('is an hour from now', () => {
    expect(snoozeUntil('hour', new Date('2026-01-01T10:15:00Z'))).toBe('2026-01-01T11:15:00.000Z');
  });

  it('is 9:00 local time the next day, even late at night', () => {
    const late = new Date(2026, 0, 31, 23, 30);
    const until = new Date(snoozeUntil('tomorrow', late));
    expect([until.getMonth(), until.getDate(), until.getHours(), until.getMinutes()]).toEqual([1, 1, 9, 0]);
  });
});
