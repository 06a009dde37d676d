import type { IconName } from './Icon.svelte';
import { t, type MessageKey } from './i18n';
import type { InboxFilter } from './api';

/** The built-in views in the sidebar's "Inboxes" section. */
export type InboxViewId = 'all' | 'mine' | 'unassigned' | 'escalated';

export interface InboxView {
  id: InboxViewId;
  label: MessageKey;
  icon: IconName;
}

export const INBOX_VIEWS: readonly InboxView[] = [
  { id: 'all', label: 'views.all', icon: 'inbox' },
  { id: 'mine', label: 'views.mine', icon: 'user' },
  { id: 'unassigned', label: 'views.unassigned', icon: 'unassigned' },
  { id: 'escalated', label: 'views.escalated', icon: 'flag' },
];

export const DEFAULT_INBOX_VIEW: InboxViewId = 'all';

export function inboxViewLabel(id: InboxViewId): string {
  const view = INBOX_VIEWS.find((v) => v.id === id);
  return view ? t(view.label) : '';
}

/** The engine filter for a view plus the list's status and channel choices. */
export function viewFilter(
  id: InboxViewId,
  status: string | null,
  channel: InboxFilter['channel'],
): InboxFilter {
  return {
    mine: id === 'mine',
    unassigned: id === 'unassigned',
    escalated: id === 'escalated',
    status: status || null,
    channel: channel || null,
  };
}
