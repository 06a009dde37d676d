// Generated from crates/protocol/src/api.rs by crates/protocol/tests/typescript.rs: do
// not edit. `UPDATE_CONTRACT=1 cargo test -p ventana-protocol --test typescript`
// writes it again after a change to the contract.

/** The word that confirms an erasure (`ERASE_WORD`). */
export const ERASE_WORD = "ERASE";

export type ChannelKind = "messenger" | "instagram" | "whatsapp";

export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

export type DayHours = { day: Weekday, open: string, close: string, };

export type BusinessHours = { 
/**
 * An IANA zone, e.g. `America/Mexico_City`.
 */
timezone: string, 
/**
 * At most one span per weekday; a day not listed is closed.
 */
days: Array<DayHours>, };

export type EscalationRules = { 
/**
 * Words (or phrases) that, anywhere in a customer's message, ask for a person.
 * Matched as whole words, ignoring case and accents.
 */
keywords: Array<string>, 
/**
 * Escalate when the customer has waited this long for an answer.
 */
customer_waiting_minutes: number | null, 
/**
 * Escalate when the reply window closes within this many minutes, unanswered.
 */
window_closing_minutes: number | null, 
/**
 * Escalate when a reply cannot be sent.
 */
on_failed_send: boolean, };

export type OptOutKeywords = { stop: Array<string>, resume: Array<string>, };

export type ChannelSettings = { escalation: EscalationRules, 
/**
 * When the team answers; `None` means always. Waiting-time escalations count only
 * the time inside these hours, so a message at 23:00 does not page anyone at 23:30.
 */
business_hours: BusinessHours | null, opt_out: OptOutKeywords, 
/**
 * Days the relay keeps a conversation's messages; `None` keeps them until erased.
 */
retention_days: number | null, };

export type ChannelView = { id: string, kind: ChannelKind, 
/**
 * Page id, Instagram account id, or WhatsApp phone number id.
 */
external_id: string, display_name: string, human_agent_approved: boolean, 
/**
 * Whether an access token is set.
 */
has_token: boolean, 
/**
 * Set when Meta rejected the token: an admin must set a new one.
 */
needs_reconnection: string | null, waba_id: string | null, settings: ChannelSettings, };

export type ChannelPatch = { display_name?: string, 
/**
 * Write-only. Setting it also clears "needs re-connection".
 */
access_token?: string, human_agent_approved?: boolean, 
/**
 * The WhatsApp Business Account id (for templates).
 */
waba_id?: string, 
/**
 * The complete new settings (escalation rules, business hours, opt-out keywords,
 * retention).
 */
settings?: ChannelSettings, };

export type TemplateInfo = { name: string, language: string, 
/**
 * `MARKETING`, `UTILITY` or `AUTHENTICATION` ([`template_category`]).
 */
category: string, 
/**
 * How many body parameters (`{{1}}`, `{{2}}`…) it takes.
 */
parameters: number, 
/**
 * The body's text with its `{{n}}` placeholders: what the desktop shows, so it never
 * needs to read Meta's component format (ARCHITECTURE.md, invariant 1).
 */
body: string, };

export type AttachmentKind = "image" | "audio" | "video" | "document";

export type Draft = { "kind": "text", text: string, 
/**
 * The message this reply quotes (a `wamid` or `mid` of this conversation);
 * WhatsApp's `context.message_id`, Messenger's and Instagram's `reply_to.mid`.
 */
reply_to?: string, } | { "kind": "attachment", attachment: AttachmentKind, url: string, caption: string | null, filename: string | null, 
/**
 * The message this reply quotes (a `wamid` or `mid` of this conversation);
 * WhatsApp's `context.message_id`, Messenger's and Instagram's `reply_to.mid`.
 */
reply_to?: string, } | { "kind": "template", name: string, language: string, parameters: Array<string>, 
/**
 * The message this reply quotes (a `wamid` or `mid` of this conversation);
 * WhatsApp's `context.message_id`, Messenger's and Instagram's `reply_to.mid`.
 */
reply_to?: string, };

export type WorkflowChange = { 
/**
 * `open`, `pending`, `snoozed` (needs `snoozed_until`) or `resolved`.
 */
status?: string, snoozed_until?: string, 
/**
 * An agent id of the tenant, `me`, or `nobody`.
 */
assignee?: string, 
/**
 * The complete new set of labels.
 */
labels?: Array<string>, };

export type Recorded = { 
/**
 * The sequence numbers of the events it produced.
 */
seq: Array<number>, };

export type ErasureReceipt = { receipt: string, tenant: string, contact: string, channel_kind: string, events_redacted: number, media_removed: number, replies_removed: number, quarantined_removed: number, 
/**
 * The sequence number of the `contact_erased` event.
 */
seq: number, };
