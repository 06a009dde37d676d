import type { IconName } from './Icon.svelte';

/** The built-in views in the sidebar's "Inboxes" section. */
export type InboxViewId = 'all' | 'mine' | 'unassigned' | 'escalated';

export interface InboxView {
  id: InboxViewId;
  label: string;
  icon: IconName;
}

export const INBOX_VIEWS: readonly InboxView[] = [
  { id: 'all', label: 'All inboxes', icon: 'inbox' },
  { id: 'mine', label: 'Mine', icon: 'user' },
  { id: 'unassigned', label: 'Unassigned', icon: 'unassigned' },
  { id: 'escalated', label: 'Escalated', icon: 'flag' },
];

export const DEFAULT_INBOX_VIEW: InboxViewId = 'all';

export function inboxViewLabel(id: InboxViewId): string {
  return INBOX_VIEWS.find((view) => view.id === id)?.label ?? '';
}
