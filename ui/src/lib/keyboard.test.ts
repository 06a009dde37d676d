import { describe, expect, it } from 'vitest';
import { moveSelection, shortcutFor } from './keyboard';

describe('shortcutFor', () => {
  it('maps the single keys when not typing', () => {
    const keys = ['j', 'ArrowDown', 'k', 'ArrowUp', 'r', 'n', '/', 'a', 'e', 'i', '?'];
    expect(keys.map((key) => shortcutFor({ key, typing: false }))).toEqual([
      'next', 'next', 'previous', 'previous', 'reply', 'note', 'search', 'assign', 'resolve', 'contact', 'help',
    ]);
  });

  it('leaves letters to a focused text field, but Ctrl+K still searches', () => {
    expect(shortcutFor({ key: 'j', typing: true })).toBeNull();
    expect(shortcutFor({ key: 'i', typing: true })).toBeNull();
    expect(shortcutFor({ key: 'k', ctrlKey: true, typing: true })).toBe('search');
    expect(shortcutFor({ key: 'Escape', typing: true })).toBe('escape');
  });

  it('ignores letters with modifiers', () => {
    expect(shortcutFor({ key: 'a', ctrlKey: true, typing: false })).toBeNull();
  });
});

describe('moveSelection', () => {
  it('starts at the first row and stops at the ends', () => {
    expect(moveSelection(-1, 1, 3)).toBe(0);
    expect(moveSelection(2, 1, 3)).toBe(2);
    expect(moveSelection(0, -1, 3)).toBe(0);
    expect(moveSelection(1, 1, 0)).toBe(-1);
  });
});
