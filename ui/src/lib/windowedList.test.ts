import { describe, expect, it } from 'vitest';
import { scrollToRow, visibleSlice, wantsEarlier, wantsMore } from './windowedList';

describe('visibleSlice', () => {
  it('renders only the rows in view plus overscan at 100,000 rows', () => {
    const slice = visibleSlice(500_000, 600, 50, 100_000, 5);
    expect(slice.start).toBe(10_000 - 5);
    expect(slice.end).toBe(10_000 + 13 + 5);
    expect(slice.end - slice.start).toBeLessThan(30);
    expect(slice.offset).toBe(slice.start * 50);
    expect(slice.total).toBe(5_000_000);
  });

  it('starts at the top', () => {
    expect(visibleSlice(0, 600, 50, 1000, 5)).toEqual({ start: 0, end: 18, offset: 0, total: 50_000 });
  });

  it('clamps a scroll past the end', () => {
    const slice = visibleSlice(1e9, 600, 50, 100, 0);
    expect(slice.end).toBe(100);
    expect(slice.start).toBe(88);
  });

  it('renders nothing for an empty list', () => {
    expect(visibleSlice(0, 600, 50, 0)).toEqual({ start: 0, end: 0, offset: 0, total: 0 });
  });
});

describe('wantsMore', () => {
  it('asks for the next page near the end unless exhausted', () => {
    expect(wantsMore(180, 200, false)).toBe(true);
    expect(wantsMore(100, 200, false)).toBe(false);
    expect(wantsMore(200, 200, true)).toBe(false);
  });
});

describe('scrollToRow', () => {
  it('scrolls only when the row is out of view', () => {
    expect(scrollToRow(5, 0, 600, 50)).toBeNull();
    expect(scrollToRow(20, 0, 600, 50)).toBe(21 * 50 - 600);
    expect(scrollToRow(2, 500, 600, 50)).toBe(100);
  });
});

describe('wantsEarlier', () => {
  it('asks for the rows before the held ones only when some were let go and the view nears them', () => {
    expect(wantsEarlier(0, 0)).toBe(false);
    expect(wantsEarlier(1_030, 1_000)).toBe(true);
    expect(wantsEarlier(1_041, 1_000)).toBe(false);
    expect(wantsEarlier(500, 1_000)).toBe(true);
  });
});
