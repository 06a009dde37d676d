/**
 * The only place the UI talks to the Rust side.
 *
 * Every Tauri command gets a typed wrapper here; components import these
 * wrappers and never call `invoke` themselves.
 */
import { Channel, invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type {
  ChannelKind,
  ChannelPatch,
  ChannelView,
  Draft,
  ErasureReceipt,
  Recorded,
  TemplateInfo,
  WorkflowChange,
} from './contract';

/** Result of the `app_info` command. */
export interface AppInfo {
  name: string;
  version: string;
  /** The relay protocol version the Rust side speaks. */
  protocol: number;
}

/**
 * The error shape every Rust command rejects with, e.g.
 * `{ code: "internal", message: "database is locked" }`.
 */
export interface CommandError {
  code: string;
  message: string;
}

/** Code given to errors that did not come from a Rust command. */
export const UNKNOWN_ERROR_CODE = 'unknown';

/** Code given when the UI runs without the Tauri runtime (e.g. `vite preview`). */
export const NO_TAURI_ERROR_CODE = 'no_tauri';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isCommandError(value: unknown): value is CommandError {
  return isRecord(value) && typeof value.code === 'string' && typeof value.message === 'string';
}

/**
 * Turns anything a command (or the IPC layer) may throw into a `CommandError`.
 *
 * - `{ code, message }` from Rust keeps its code and message.
 * - An `Error` becomes code `"unknown"` with the error's message.
 * - A string becomes code `"unknown"` with that string as the message.
 * - Anything else becomes code `"unknown"` with a best-effort message.
 */
export function toCommandError(value: unknown): CommandError {
  if (isCommandError(value)) {
    return { code: value.code, message: value.message };
  }
  if (value instanceof Error) {
    return { code: UNKNOWN_ERROR_CODE, message: value.message || value.name };
  }
  if (typeof value === 'string') {
    return { code: UNKNOWN_ERROR_CODE, message: value };
  }
  if (isRecord(value) && typeof value.message === 'string') {
    return { code: UNKNOWN_ERROR_CODE, message: value.message };
  }
  if (value === null || value === undefined) {
    return { code: UNKNOWN_ERROR_CODE, message: 'Unknown error' };
  }
  let message: string;
  try {
    message = JSON.stringify(value) ?? String(value);
  } catch {
    message = String(value);
  }
  return { code: UNKNOWN_ERROR_CODE, message };
}

function hasTauriRuntime(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

/** Invokes a Tauri command; always rejects with a `CommandError`. */
async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await (args === undefined ? invoke<T>(command) : invoke<T>(command, args));
  } catch (error) {
    if (!isCommandError(error) && !hasTauriRuntime()) {
      // Outside the desktop app `invoke` fails with an opaque TypeError.
      throw {
        code: NO_TAURI_ERROR_CODE,
        message: 'Not running inside the Ventana desktop app (Tauri runtime unavailable)',
      } satisfies CommandError;
    }
    throw toCommandError(error);
  }
}

/** Name and version of the running app, as reported by the Rust side. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>('app_info');
}

/** Tells the shell the first inbox rows are painted (it logs the start-up time once). */
export function startupPainted(): Promise<void> {
  return call<void>('startup_painted', { pageMs: performance.now() });
}

// ---------------------------------------------------------------------------
// The desktop API contract (`crates/protocol/src/api.rs`): generated into `contract.ts`
// and re-exported here under the names the UI uses, so they cannot drift from Rust.

export type {
  BusinessHours,
  ChannelKind,
  ChannelSettings,
  DayHours,
  Draft,
  ErasureReceipt,
  EscalationRules,
  OptOutKeywords,
  Recorded,
  TemplateInfo,
  Weekday,
  WorkflowChange,
} from './contract';

/** A channel as `GET /v1/channels` lists it (the contract's `ChannelView`, never its token). */
export type ChannelInfo = ChannelView;

/**
 * A change to a channel (the contract's `ChannelPatch`, unknown fields refused): absent
 * fields stay as they are, `settings` replaces all of them at once, and `access_token` is
 * write-only.
 */
export type ChannelChange = ChannelPatch;

/** The channel as it is after a change. */
export type ChannelUpdated = ChannelView;

// ---------------------------------------------------------------------------
// Engine types: the serde shapes of `crates/inbox` (snake_case fields).

/** `SyncState` in `crates/inbox/src/sync.rs`. */
export type SyncState =
  | { state: 'connecting' }
  | { state: 'catching_up'; applied: number; head: number }
  | { state: 'live'; head: number }
  | { state: 'offline'; reason: string; retry_in_ms: number }
  | { state: 'signed_out'; code: string; reason: string }
  | { state: 'password_change_required' }
  | { state: 'stopped' };

/** `AccountView`: the account record flattened with its label and sync state. */
export interface AccountView {
  id: string;
  relay_url: string;
  tenant_id: string;
  tenant_name: string;
  agent_id: string;
  agent_email: string;
  role: string;
  muted: boolean;
  signed_in: boolean;
  /** Why the relay ended the session (a code of docs/accounts.md), while signed out. */
  signed_out_code?: string | null;
  /** The relay wants a new password before anything else. */
  must_change_password: boolean;
  last_synced_at?: string | null;
  label: string;
  sync: SyncState;
  queued: number;
  unread: number;
  [extra: string]: unknown;
}

export interface ChannelRef {
  id: string;
  kind: ChannelKind | null;
  name: string;
}

export type ClosedReason =
  | 'no_customer_message'
  | 'human_agent_only'
  | 'human_agent_not_approved'
  | 'expired';

/** `ReplyMode`, tagged `mode` with content `reason`. */
export type ReplyMode =
  | { mode: 'standard' }
  | { mode: 'human_agent' }
  | { mode: 'template_only' }
  | { mode: 'closed'; reason: ClosedReason };

export type TemplateAccess = 'not_on_channel' | 'all' | 'no_marketing';

/** The protocol's `ReplyWindow` for one moment. */
export interface ReplyWindow {
  mode: ReplyMode;
  since: string | null;
  changes_at: string | null;
  templates: TemplateAccess;
}

export interface MessagePreview {
  direction: string;
  kind: string;
  text: string | null;
  state: string;
  unsent: boolean;
}

export interface ConversationSummary {
  id: string;
  channel: ChannelRef;
  contact_id: string;
  contact_name: string | null;
  opted_out: boolean;
  last_activity_at: string | null;
  last_customer_message_at: string | null;
  last_message: MessagePreview | null;
  unread: number;
  status: string;
  snoozed_until: string | null;
  assignee: string | null;
  labels: string[];
  escalation: unknown;
  escalated_at: string | null;
  window: ReplyWindow | null;
}

/** An inbox row: the account plus the flattened conversation summary. */
export interface InboxRow extends ConversationSummary {
  account: string;
}

export interface InboxFilter {
  mine?: boolean;
  unassigned?: boolean;
  escalated?: boolean;
  status?: string | null;
  channel?: ChannelKind | null;
  label?: string | null;
}

export interface InboxCursor {
  last_activity_at: string;
  id: string;
}

export type MessageState =
  | 'received'
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'failed';

/** The protocol's `MessageContent`, tagged by `kind`. Unknown kinds keep their fields. */
export type MessageContent =
  | { kind: 'text'; body: string }
  | {
      kind: 'image' | 'audio' | 'video' | 'document' | 'sticker';
      media_id: string;
      mime_type?: string | null;
      caption?: string | null;
      filename?: string | null;
    }
  | { kind: 'location'; latitude: number; longitude: number; name?: string | null; address?: string | null }
  | { kind: 'template'; name: string; language: string; body_parameters?: string[] }
  | { kind: string; [field: string]: unknown };

export interface MessageView {
  rowid: number;
  message_id: string | null;
  idempotency_key: string | null;
  direction: string;
  sender: unknown;
  sent_as: string | null;
  kind: string;
  content: MessageContent | null;
  reply_to: string | null;
  occurred_at: string | null;
  state: MessageState | string;
  failure: { reason?: string; code?: string | number; [field: string]: unknown } | null;
  edit_count: number;
  unsent: boolean;
  reactions: { by: string; emoji: string }[];
}

export interface NoteView {
  id: string;
  author: string;
  text: string;
  created_at: string | null;
}

export interface SnippetPart {
  text: string;
  hit: boolean;
}

export interface SearchRow {
  account: string;
  kind: 'message' | 'contact' | 'note' | string;
  conversation_id: string | null;
  contact_id: string;
  contact_name: string | null;
  message_rowid: number | null;
  occurred_at: string | null;
  snippet: SnippetPart[];
}

export interface Queued {
  key: string;
  rowid: number;
}

/** `ContactConversation` in `crates/inbox/src/query.rs`. */
export interface ContactConversation {
  id: string;
  status: string;
  last_activity_at: string | null;
}

/** `ContactProfile` in `crates/inbox/src/query.rs`: what the contact panel shows. */
export interface ContactProfile {
  id: string;
  name: string | null;
  channel: ChannelRef;
  opted_out: boolean;
  consent_changed_at: string | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  conversations: ContactConversation[];
  messages: number;
  attachments: number;
}

export interface Notice {
  account: string;
  conversation: string;
  kind: string;
  summary: string;
  body: string;
}

/** `NoticeKind` in `crates/inbox/src/engine.rs`, tagged `kind`. */
export type NoticeKind =
  | { kind: 'signed_out'; code: string; message: string; cache_removed: boolean }
  | { kind: 'resync'; kept: number }
  | { kind: 'replies_lost'; count: number }
  | { kind: 'expired'; days: number; signed_in: boolean };

/** `AccountNotice`: what happened to an account that the agent must read. */
export type AccountNotice = {
  id: number;
  account: string;
  tenant_name: string;
  agent_email: string;
} & NoticeKind;

/** The `engine-update` event payload. */
export type EngineUpdate =
  | { type: 'sync'; account: string; state: SyncState }
  | { type: 'conversations'; account: string; conversations: string[] }
  | { type: 'channels'; account: string }
  | ({ type: 'notice' } & Notice)
  | { type: 'accounts' }
  | ({ type: 'account_notice' } & AccountNotice)
  | { type: 'reload'; account?: string };

export type Role = 'admin' | 'agent';

/** `AgentRecord` in `crates/inbox/src/team.rs` (the relay's `GET /v1/agents`). */
export interface AgentRecord {
  id: string;
  email: string;
  name: string | null;
  role: Role | string;
  status: 'active' | 'disabled' | string;
  must_change_password: boolean;
  created_at: string | null;
  last_sign_in_at: string | null;
}

/** `NewAgent`: the agent and their one-time password (shown once). */
export interface NewAgent {
  agent: AgentRecord;
  temporary_password: string;
}

export interface TemporaryPassword {
  temporary_password: string;
}

/** `AgentChange`: absent fields stay as they are. */
export interface AgentChange {
  role?: Role;
  status?: 'active' | 'disabled';
  name?: string;
}

/** `SessionRecord`: one of an agent's live sessions. */
export interface SessionRecord {
  id: string;
  created_at: string | null;
  last_refreshed_at: string | null;
  expires_at: string | null;
  idle_expires_at: string | null;
  client: unknown;
}

export interface BotKeyRecord {
  id: string;
  name: string;
  created_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A bot key just made or rotated: `key` is shown once. */
export interface NewBotKey {
  id: string;
  name: string;
  key: string;
}

export interface OpenConversation {
  account: string;
  conversation: string;
}

// ---------------------------------------------------------------------------
// Commands.

export const accounts = () => call<AccountView[]>('accounts');

export const signIn = (relayUrl: string, email: string, password: string, tenant?: string) =>
  call<AccountView>('sign_in', { relayUrl, email, password, tenant: tenant || null });

export const signOut = (account: string, removeCache: boolean) =>
  call<void>('sign_out', { account, removeCache });

export const setMuted = (account: string, muted: boolean) =>
  call<void>('set_muted', { account, muted });

export const syncState = (account: string) => call<SyncState>('sync_state', { account });

export const reconnect = () => call<void>('reconnect');

export const inbox = (options: {
  account?: string;
  filter?: InboxFilter;
  /** The page after this row (older activity). */
  after?: InboxCursor;
  /** The page just before this row (newer activity), in the list's order. */
  before?: InboxCursor;
  limit?: number;
}) =>
  call<InboxRow[]>('inbox', {
    account: options.account ?? null,
    filter: options.filter ?? null,
    after: options.after ?? null,
    before: options.before ?? null,
    limit: options.limit ?? null,
  });

export const conversation = (account: string, conversation: string) =>
  call<ConversationSummary | null>('conversation', { account, conversation });

export const messages = (account: string, conversation: string, before?: number, limit?: number) =>
  call<MessageView[]>('messages', {
    account,
    conversation,
    before: before ?? null,
    limit: limit ?? null,
  });

export const notes = (account: string, conversation: string) =>
  call<NoteView[]>('notes', { account, conversation });

export const markRead = (account: string, conversation: string) =>
  call<void>('mark_read', { account, conversation });

export const search = (query: string, limit?: number) =>
  call<SearchRow[]>('search', { query, limit: limit ?? null });

export const contact = (account: string, contact: string) =>
  call<ContactProfile | null>('contact', { account, contact });

export const templates = (account: string, channel: string) =>
  call<TemplateInfo[]>('templates', { account, channel });

export const compose = (account: string, conversation: string, draft: Draft) =>
  call<Queued>('compose', { account, conversation, draft });

export const retry = (account: string, key: string) => call<void>('retry', { account, key });

/** An attachment's bytes (raw IPC bytes). */
export const media = (account: string, mediaId: string) =>
  call<ArrayBuffer>('media', { account, mediaId });

export const updateConversation = (account: string, conversation: string, change: WorkflowChange) =>
  call<Recorded>('update_conversation', { account, conversation, change });

export const addNote = (account: string, conversation: string, text: string) =>
  call<unknown>('add_note', { account, conversation, text });

export const eraseContact = (account: string, contact: string, confirm: string) =>
  call<ErasureReceipt>('erase_contact', { account, contact, confirm });

/** `ExportProgress` in `crates/inbox/src/export.rs`: bytes received of the total. */
export interface ExportProgress {
  received: number;
  total: number | null;
}

/** `SavedExport` in `crates/inbox/src/export.rs`: where the zip was saved. */
export interface SavedExport {
  path: string;
  bytes: number;
}

/** Saves a contact's data export (a zip); `onprogress` hears of every chunk. */
export const exportContact = (account: string, contact: string, onprogress: (step: ExportProgress) => void) => {
  const progress = new Channel<ExportProgress>();
  progress.onmessage = onprogress;
  return call<SavedExport>('export_contact', { account, contact, progress });
};

export const channels = (account: string) => call<ChannelInfo[]>('channels', { account });

export const updateChannel = (account: string, channel: string, change: ChannelChange) =>
  call<ChannelUpdated>('update_channel', { account, channel, change });

export const accountNotices = () => call<AccountNotice[]>('account_notices');

export const dismissNotice = (id: number) => call<void>('dismiss_notice', { id });

export const changePassword = (account: string, current: string, next: string, again: string) =>
  call<void>('change_password', { account, current, new: next, again });

export const agents = (account: string) => call<AgentRecord[]>('agents', { account });

export const addAgent = (account: string, email: string, role: Role, name?: string) =>
  call<NewAgent>('add_agent', { account, email, role, name: name || null });

export const updateAgent = (account: string, agent: string, change: AgentChange) =>
  call<AgentRecord>('update_agent', { account, agent, change });

export const removeAgent = (account: string, agent: string) =>
  call<void>('remove_agent', { account, agent });

export const resetAgentPassword = (account: string, agent: string) =>
  call<TemporaryPassword>('reset_agent_password', { account, agent });

export const agentSessions = (account: string, agent: string) =>
  call<SessionRecord[]>('agent_sessions', { account, agent });

export const revokeAgentSession = (account: string, agent: string, session: string) =>
  call<void>('revoke_agent_session', { account, agent, session });

export const botKeys = (account: string) => call<BotKeyRecord[]>('bot_keys', { account });

export const createBotKey = (account: string, name: string) =>
  call<NewBotKey>('create_bot_key', { account, name });

export const rotateBotKey = (account: string, key: string) =>
  call<NewBotKey>('rotate_bot_key', { account, key });

export const revokeBotKey = (account: string, key: string) =>
  call<void>('revoke_bot_key', { account, key });

// ---------------------------------------------------------------------------
// Events.

export const UPDATE_EVENT = 'engine-update';
export const OPEN_EVENT = 'open-conversation';

type Unlisten = () => void;

/** Listens for a Rust event; outside Tauri it does nothing and the unlisten is a no-op. */
async function subscribe<T>(event: string, handler: (payload: T) => void): Promise<Unlisten> {
  if (!hasTauriRuntime()) {
    return () => {};
  }
  return listen<T>(event, (e) => handler(e.payload));
}

export const onEngineUpdate = (handler: (update: EngineUpdate) => void) =>
  subscribe<EngineUpdate>(UPDATE_EVENT, handler);

export const onOpenConversation = (handler: (open: OpenConversation) => void) =>
  subscribe<OpenConversation>(OPEN_EVENT, handler);
