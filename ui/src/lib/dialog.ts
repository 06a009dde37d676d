/**
 * Modal dialogs as one action: Tab stays inside, Escape closes, and the focus goes back
 * to where it was when the dialog goes. Only the topmost dialog answers keys, so a dialog
 * opened from a panel closes alone and the panel stays.
 */

const FOCUSABLE = [
  'a[href]',
  'button:not([disabled])',
  'input:not([disabled])',
  'select:not([disabled])',
  'textarea:not([disabled])',
  '[tabindex]:not([tabindex="-1"])',
].join(', ');

/** Where Tab moves among `count` focusable elements from `current` (-1: focus is outside). */
export function trapIndex(current: number, count: number, backwards: boolean): number {
  if (count === 0) return -1;
  if (current < 0) return backwards ? count - 1 : 0;
  return (current + (backwards ? count - 1 : 1)) % count;
}

const open: HTMLElement[] = [];

/** Whether a modal dialog is open: the app's shortcuts wait until it closes. */
export const modalOpen = () => open.length > 0;

/** `use:modal={onclose}` on a dialog's root element. */
export function modal(node: HTMLElement, onclose: () => void) {
  let close = onclose;
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const focusables = () => Array.from(node.querySelectorAll<HTMLElement>(FOCUSABLE));
  open.push(node);
  if (!node.hasAttribute('tabindex')) node.tabIndex = -1;
  (node.querySelector<HTMLElement>('[data-autofocus]') ?? focusables()[0] ?? node).focus();

  // Capture on the document: the keys reach the dialog even when a click outside it took
  // the focus, and Escape stops here instead of also closing what lies underneath.
  function onkeydown(event: KeyboardEvent) {
    if (open[open.length - 1] !== node) return;
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === 'Tab') {
      event.preventDefault();
      const items = focusables();
      const next = trapIndex(items.indexOf(document.activeElement as HTMLElement), items.length, event.shiftKey);
      (items[next] ?? node).focus();
    }
  }
  document.addEventListener('keydown', onkeydown, true);

  return {
    update(next: () => void) {
      close = next;
    },
    destroy() {
      document.removeEventListener('keydown', onkeydown, true);
      open.splice(open.indexOf(node), 1);
      if (previous?.isConnected) previous.focus();
    },
  };
}
