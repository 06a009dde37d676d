/** The app's keyboard shortcuts: which key does what, decided apart from the DOM. */
import type { MessageKey } from './i18n';

export type ShortcutAction =
  | 'next'
  | 'previous'
  | 'reply'
  | 'note'
  | 'search'
  | 'assign'
  | 'resolve'
  | 'contact'
  | 'help'
  | 'escape';

export interface KeyPress {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  /** The focus is in a text field: single letters belong to the text then. */
  typing: boolean;
}

export const SHORTCUTS: { keys: string; label: MessageKey }[] = [
  { keys: 'j / ↓', label: 'shortcuts.next' },
  { keys: 'k / ↑', label: 'shortcuts.previous' },
  { keys: 'r', label: 'shortcuts.reply' },
  { keys: 'n', label: 'shortcuts.note' },
  { keys: '/ or Ctrl+K', label: 'shortcuts.search' },
  { keys: 'a', label: 'shortcuts.assign' },
  { keys: 'e', label: 'shortcuts.resolve' },
  { keys: 'i', label: 'shortcuts.contact' },
  { keys: '?', label: 'shortcuts.help' },
];

export function shortcutFor(press: KeyPress): ShortcutAction | null {
  if ((press.ctrlKey || press.metaKey) && press.key.toLowerCase() === 'k') return 'search';
  if (press.key === 'Escape') return 'escape';
  if (press.typing || press.ctrlKey || press.metaKey || press.altKey) return null;
  switch (press.key) {
    case 'j':
    case 'ArrowDown':
      return 'next';
    case 'k':
    case 'ArrowUp':
      return 'previous';
    case 'r':
      return 'reply';
    case 'n':
      return 'note';
    case '/':
      return 'search';
    case 'a':
      return 'assign';
    case 'e':
      return 'resolve';
    case 'i':
      return 'contact';
    case '?':
      return 'help';
    default:
      return null;
  }
}

/** The index after moving `step` rows from `current` (-1 for none), kept inside the list. */
export function moveSelection(current: number, step: 1 | -1, count: number): number {
  if (count === 0) return -1;
  if (current < 0) return step > 0 ? 0 : count - 1;
  return Math.max(0, Math.min(count - 1, current + step));
}
