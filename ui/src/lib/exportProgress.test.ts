import { describe, expect, it } from 'vitest';
import { formatBytes, fraction } from './exportProgress';

describe('formatBytes', () => {
  it('reads as file managers show sizes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1.0 KB');
    expect(formatBytes(12_400)).toBe('12 KB');
    expect(formatBytes(3_100_000)).toBe('3.1 MB');
    expect(formatBytes(5_000_000_000_000_000)).toBe('5000 TB');
  });
});

describe('fraction', () => {
  it('is the share received, never over 1', () => {
    expect(fraction({ received: 0, total: 200 })).toBe(0);
    expect(fraction({ received: 50, total: 200 })).toBe(0.25);
    expect(fraction({ received: 300, total: 200 })).toBe(1);
  });
  it('is unknown without a total', () => {
    expect(fraction({ received: 50, total: null })).toBeNull();
    expect(fraction({ received: 0, total: 0 })).toBeNull();
  });
});
