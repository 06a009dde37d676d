/**
 * The unread count outside the app's own lists: in the window's title (what a task bar
 * or window switcher shows) and as the launcher's badge where the desktop has one
 * (macOS dock, Unity launcher entry; GNOME shows none).
 */
import { getCurrentWindow } from '@tauri-apps/api/window';

export const APP_NAME = 'Ventana';

/** `Ventana (12)`, or `Ventana` with nothing unread; large counts are capped. */
export function windowTitle(unread: number): string {
  if (!Number.isFinite(unread) || unread <= 0) return APP_NAME;
  return `${APP_NAME} (${unread > 999 ? '999+' : Math.floor(unread)})`;
}

/** Shows `unread` in the title and the badge; outside the desktop app only the title. */
export async function showUnread(unread: number): Promise<void> {
  const title = windowTitle(unread);
  document.title = title;
  if (!('__TAURI_INTERNALS__' in window)) return;
  try {
    const current = getCurrentWindow();
    await current.setTitle(title);
    await current.setBadgeCount(unread > 0 ? unread : undefined);
  } catch {
    // A desktop without a badge (most Linux ones) refuses it, and a page without a
    // window (the UI's tests) has none; the document's title still counts.
  }
}
