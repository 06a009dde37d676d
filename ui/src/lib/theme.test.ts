import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyTheme, chooseTheme, effectiveTheme, loadTheme, saveTheme, startTheme, THEME_KEY } from './theme';

function memory(): Pick<Storage, 'getItem' | 'setItem'> & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

function fakeSystem(dark: boolean) {
  const listeners: (() => void)[] = [];
  const query = {
    matches: dark,
    addEventListener: (_: string, fn: () => void) => listeners.push(fn),
    removeEventListener: vi.fn(),
  };
  vi.stubGlobal('matchMedia', () => query);
  return {
    set(next: boolean) {
      query.matches = next;
      listeners.forEach((fn) => fn());
    },
  };
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  delete document.documentElement.dataset.theme;
});

describe('theme', () => {
  it.each([
    ['system', false, 'light'],
    ['system', true, 'dark'],
    ['light', true, 'light'],
    ['light', false, 'light'],
    ['dark', false, 'dark'],
    ['dark', true, 'dark'],
  ] as const)('%s with a dark system %s shows %s', (choice, systemDark, want) => {
    expect(effectiveTheme(choice, systemDark)).toBe(want);
  });

  it('keeps the choice, and reads anything unknown as System', () => {
    const store = memory();
    expect(loadTheme(store)).toBe('system');
    saveTheme('dark', store);
    expect(store.data.get(THEME_KEY)).toBe('dark');
    expect(loadTheme(store)).toBe('dark');
    store.setItem(THEME_KEY, 'sepia');
    expect(loadTheme(store)).toBe('system');
    expect(loadTheme(null)).toBe('system');
  });

  it('applies a choice live and persists it', () => {
    fakeSystem(true);
    const root = document.documentElement;
    expect(chooseTheme('light', root)).toBe('light');
    expect(root.dataset.theme).toBe('light');
    expect(localStorage.getItem(THEME_KEY)).toBe('light');
    expect(chooseTheme('system', root)).toBe('dark');
    expect(root.dataset.theme).toBe('dark');
  });

  it('follows the system while the choice is System, and only then', () => {
    const system = fakeSystem(false);
    const root = document.documentElement;
    const stop = startTheme(root);
    expect(root.dataset.theme).toBe('light');
    system.set(true);
    expect(root.dataset.theme).toBe('dark');
    chooseTheme('light', root);
    system.set(false);
    system.set(true);
    expect(root.dataset.theme).toBe('light');
    stop();
    expect(applyTheme('dark', root)).toBe('dark');
  });
});
