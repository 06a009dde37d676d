/**
 * The theme switch: System (follows `prefers-color-scheme`), Light or Dark, kept in the
 * webview's local storage (a display preference, not account data) and applied live by
 * setting `data-theme` on the root element, which app.css reads.
 */

export type ThemeChoice = 'system' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

export const THEME_CHOICES: ThemeChoice[] = ['system', 'light', 'dark'];
export const THEME_KEY = 'ventana.theme';
const DARK_QUERY = '(prefers-color-scheme: dark)';

type Store = Pick<Storage, 'getItem' | 'setItem'>;

function storage(): Store | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** The stored choice; anything unknown (or no storage) is System. */
export function loadTheme(store: Store | null = storage()): ThemeChoice {
  let value: string | null = null;
  try {
    value = store?.getItem(THEME_KEY) ?? null;
  } catch {
    value = null;
  }
  return THEME_CHOICES.includes(value as ThemeChoice) ? (value as ThemeChoice) : 'system';
}

export function saveTheme(choice: ThemeChoice, store: Store | null = storage()): void {
  try {
    store?.setItem(THEME_KEY, choice);
  } catch {
    // Storage full or refused: the choice still applies for this session.
  }
}

/** The theme shown for a choice, given whether the system prefers dark. */
export function effectiveTheme(choice: ThemeChoice, systemDark: boolean): Theme {
  if (choice === 'system') return systemDark ? 'dark' : 'light';
  return choice;
}

function systemQuery(): MediaQueryList | null {
  return typeof matchMedia === 'function' ? matchMedia(DARK_QUERY) : null;
}

/** Shows `choice` on `root` now. */
export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): Theme {
  const theme = effectiveTheme(choice, systemQuery()?.matches ?? false);
  root.dataset.theme = theme;
  root.dataset.themeChoice = choice;
  return theme;
}

/** Applies the stored choice and keeps System in step with the OS; returns a stop function. */
export function startTheme(root: HTMLElement = document.documentElement): () => void {
  applyTheme(loadTheme(), root);
  const query = systemQuery();
  const onchange = () => applyTheme(loadTheme(), root);
  query?.addEventListener?.('change', onchange);
  return () => query?.removeEventListener?.('change', onchange);
}

/** The agent picked a theme: kept and shown at once. */
export function chooseTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): Theme {
  saveTheme(choice);
  return applyTheme(choice, root);
}
