import { describe, expect, it } from 'vitest';
import { withLabel, withoutLabel } from './labels';

describe('labels', () => {
  it('adds a trimmed label', () => {
    expect(withLabel(['vip'], '  refund ')).toEqual(['vip', 'refund']);
  });

  it('refuses what the relay would refuse, and repeats', () => {
    expect(withLabel([], '   ')).toBeNull();
    expect(withLabel([], 'x'.repeat(51))).toBeNull();
    expect(withLabel(['vip'], 'vip')).toBeNull();
    expect(withLabel(Array.from({ length: 50 }, (_, i) => `l${i}`), 'one more')).toBeNull();
    expect(withLabel([], 'ñ'.repeat(50))).toEqual(['ñ'.repeat(50)]);
  });

  it('removes one label', () => {
    expect(withoutLabel(['a', 'b', 'c'], 'b')).toEqual(['a', 'c']);
  });
});
