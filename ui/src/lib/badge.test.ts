import { describe, expect, it } from 'vitest';
import { showUnread, windowTitle } from './badge';

describe('windowTitle', () => {
  it('shows the unread count, and just the name when there is none', () => {
    expect(windowTitle(0)).toBe('Ventana');
    expect(windowTitle(-3)).toBe('Ventana');
    expect(windowTitle(Number.NaN)).toBe('Ventana');
    expect(windowTitle(7)).toBe('Ventana (7)');
    expect(windowTitle(999)).toBe('Ventana (999)');
    expect(windowTitle(12000)).toBe('Ventana (999+)');
  });

  it('sets the document title outside the desktop app', async () => {
    await showUnread(4);
    expect(document.title).toBe('Ventana (4)');
    await showUnread(0);
    expect(document.title).toBe('Ventana');
  });
});
