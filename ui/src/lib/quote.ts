/**
 * Quoting: what a reply quotes, and how a quote reads (author and a one-line excerpt),
 * decided apart from the DOM. The engine stores only the quoted message's id
 * (`reply_to`); the words come from the quoted message when it is loaded.
 */
import type { MessageView } from './api';
import { t } from './i18n';
import { isOutgoing } from './timeline';

export interface Quote {
  /** The quoted message's platform id (`wamid` or `mid`): what the reply carries. */
  id: string;
  author: string;
  excerpt: string;
  /** Where the quoted message is in the loaded timeline, to scroll to; null if not loaded. */
  rowid: number | null;
}

const EXCERPT_CHARS = 90;

/** One line of at most 90 characters: whitespace runs become one space. */
export function oneLine(text: string, max = EXCERPT_CHARS): string {
  const line = text.replace(/\s+/g, ' ').trim();
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : line;
}

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/** A message's words for a quote or a preview: its text, a template's rendered text, a
 * caption, else the kind of attachment. */
export function excerptOf(message: Pick<MessageView, 'content' | 'kind' | 'unsent'>): string {
  const content = message.content as Record<string, unknown> | null;
  if (message.unsent || content === null) return t('message.unsent');
  const kind = str(content.kind) || message.kind;
  const words =
    str(content.body) ||
    (kind === 'template' ? str(content.text) || str(content.name) : '') ||
    str(content.caption) ||
    str(content.title) ||
    str(content.text) ||
    str(content.name);
  return oneLine(words || t('list.attachment', { kind }));
}

/** Who wrote a message, as a quote names them. */
export function authorOf(message: Pick<MessageView, 'direction'>, contact: string): string {
  return isOutgoing(message) ? t('quote.you') : contact;
}

/** The quote of `message`, or null when it cannot be quoted yet (a reply still queued has
 * no platform id for Meta to point at). */
export function quoteOf(message: MessageView, contact: string): Quote | null {
  if (!message.message_id || message.unsent) return null;
  return {
    id: message.message_id,
    author: authorOf(message, contact),
    excerpt: excerptOf(message),
    rowid: message.rowid,
  };
}

/** The quote a bubble shows for `id`: from the loaded messages, else a placeholder. */
export function resolveQuote(id: string, messages: MessageView[], contact: string): Quote {
  const found = messages.find((m) => m.message_id === id);
  if (!found) return { id, author: '', excerpt: t('quote.notLoaded'), rowid: null };
  return {
    id,
    author: authorOf(found, contact),
    excerpt: excerptOf(found),
    rowid: found.rowid,
  };
}
