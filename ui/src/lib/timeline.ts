/** A conversation's messages and notes as one time-ordered list, and per-message wording. */
import type { MessageView, NoteView } from './api';
import { t } from './i18n';
import type { IconName } from './Icon.svelte';

export type TimelineItem =
  | { type: 'message'; key: string; at: string; message: MessageView }
  | { type: 'note'; key: string; at: string; note: NoteView };

/**
 * Messages keep their own order (the engine's, oldest first); each note goes before the
 * first message that happened after it.
 */
export function timeline(messages: MessageView[], notes: NoteView[]): TimelineItem[] {
  const sortedNotes = [...notes].sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
  const out: TimelineItem[] = [];
  let n = 0;
  for (const message of messages) {
    const at = message.occurred_at ?? '';
    while (n < sortedNotes.length && at !== '' && (sortedNotes[n].created_at ?? '') < at) {
      out.push(noteItem(sortedNotes[n++]));
    }
    out.push({ type: 'message', key: `m${message.rowid}`, at, message });
  }
  while (n < sortedNotes.length) out.push(noteItem(sortedNotes[n++]));
  return out;
}

function noteItem(note: NoteView): TimelineItem {
  return { type: 'note', key: `n${note.id}`, at: note.created_at ?? '', note };
}

/** The icon and words for an outgoing message's delivery state. */
export function stateIcon(state: string): { icon: IconName; label: string } | null {
  switch (state) {
    case 'queued':
      return { icon: 'clock', label: t('state.queued') };
    case 'sending':
      return { icon: 'clock', label: t('state.sending') };
    case 'sent':
      return { icon: 'check', label: t('state.sent') };
    case 'delivered':
      return { icon: 'checks', label: t('state.delivered') };
    case 'read':
      return { icon: 'checks', label: t('state.read') };
    case 'failed':
      return { icon: 'alert', label: t('state.failed') };
    default:
      return null;
  }
}

/** Why a message failed, in words: the relay's or Meta's reason, else its code. */
export function failureText(failure: MessageView['failure']): string {
  const reason = failure?.reason ?? failure?.message ?? failure?.title;
  if (typeof reason === 'string' && reason.trim()) return t('message.failed', { reason });
  if (failure?.code !== undefined && failure.code !== null) {
    return t('message.failed', { reason: String(failure.code) });
  }
  return t('message.failedUnknown');
}

export const MEDIA_KINDS = ['image', 'audio', 'video', 'document', 'sticker'] as const;

export function isOutgoing(message: { direction: string }): boolean {
  return message.direction === 'out' || message.direction === 'outgoing';
}
