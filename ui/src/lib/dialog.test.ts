import { fireEvent, render, screen } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import ShortcutSheet from './ShortcutSheet.svelte';
import SignOutDialog from './SignOutDialog.svelte';
import type { AccountView } from './api';
import { modalOpen, trapIndex } from './dialog';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));

const ACCOUNT = { id: 'acc1', label: 'Acme (ana)' } as AccountView;

describe('trapIndex', () => {
  it('wraps at both ends and enters from outside at the near end', () => {
    expect(trapIndex(2, 3, false)).toBe(0);
    expect(trapIndex(0, 3, true)).toBe(2);
    expect(trapIndex(0, 3, false)).toBe(1);
    expect(trapIndex(-1, 3, false)).toBe(0);
    expect(trapIndex(-1, 3, true)).toBe(2);
    expect(trapIndex(-1, 0, false)).toBe(-1);
  });
});

describe('modal', () => {
  it('takes the focus, keeps Tab inside, closes on Escape and gives the focus back', async () => {
    const opener = document.createElement('button');
    document.body.append(opener);
    opener.focus();
    const onclose = vi.fn();
    const { unmount } = render(SignOutDialog, { account: ACCOUNT, onclose });

    const checkbox = screen.getByTestId('sign-out-remove-cache');
    const confirm = screen.getByTestId('sign-out-confirm');
    expect(document.activeElement).toBe(checkbox);
    expect(modalOpen()).toBe(true);

    confirm.focus();
    await fireEvent.keyDown(confirm, { key: 'Tab' });
    expect(document.activeElement).toBe(checkbox);
    await fireEvent.keyDown(checkbox, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(confirm);

    // Even with the focus outside, Escape belongs to the dialog and goes no further.
    opener.focus();
    const below = vi.fn();
    window.addEventListener('keydown', below);
    await fireEvent.keyDown(opener, { key: 'Escape' });
    window.removeEventListener('keydown', below);
    expect(onclose).toHaveBeenCalledTimes(1);
    expect(below).not.toHaveBeenCalled();

    checkbox.focus();
    unmount();
    expect(document.activeElement).toBe(opener);
    expect(modalOpen()).toBe(false);
    opener.remove();
  });

  it('closes the shortcut sheet on Escape', async () => {
    const onclose = vi.fn();
    render(ShortcutSheet, { onclose });
    await fireEvent.keyDown(document.activeElement ?? document.body, { key: 'Escape' });
    expect(onclose).toHaveBeenCalled();
    expect(screen.getByTestId('shortcut-sheet').textContent).toContain('Show the contact');
  });
});
