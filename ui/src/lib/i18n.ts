/**
 * Every string the UI shows, one dictionary per language.
 *
 * The language comes from `navigator.language` once at start-up; a key missing from a
 * dictionary falls back to English, so a half-translated language still reads.
 * `{name}` placeholders are filled from the `vars` argument of `t`.
 */

const en = {
  'app.name': 'Ventana',
  'views.all': 'All inboxes',
  'views.mine': 'Mine',
  'views.unassigned': 'Unassigned',
  'views.escalated': 'Escalated',
  'sidebar.inboxes': 'Inboxes',
  'sidebar.accounts': 'Accounts',
  'sidebar.noAccounts': 'No accounts yet',
  'sidebar.addAccount': 'Add account',
  'sidebar.signOut': 'Sign out',
  'sidebar.shortcuts': 'Keyboard shortcuts',
  'signOut.title': 'Sign out of {account}?',
  'signOut.removeCache': 'Also remove the local copy of its conversations',
  'signOut.confirm': 'Sign out',
  'signIn.title': 'Sign in to a relay',
  'signIn.intro': 'Connect the inbox of your team to answer customers from this computer.',
  'signIn.relayUrl': 'Relay URL',
  'signIn.email': 'Email',
  'signIn.password': 'Password',
  'signIn.tenant': 'Workspace (optional)',
  'signIn.tenantHint': 'Only needed if your email belongs to more than one workspace.',
  'signIn.submit': 'Sign in',
  'signIn.working': 'Signing in…',
  'signIn.cancel': 'Cancel',
  'errors.wrong_credentials': 'The email or password is wrong.',
  'errors.relay_unreachable': 'The relay cannot be reached. Check the URL and your connection.',
  'errors.keyring_unavailable':
    'The system keyring is not available, so the session cannot be stored safely. Unlock or install a keyring (Secret Service) and try again.',
  'errors.no_tauri': 'Not running inside the Ventana desktop app.',
  'errors.not_found': 'It no longer exists.',
  'errors.not_retryable': 'This reply cannot be retried.',
  'errors.empty_reply': 'The reply is empty.',
  'errors.confirmation_required': 'Type ERASE to confirm.',
  'errors.unknown': 'Something went wrong: {message}',
  'list.search': 'Search conversations',
  'list.empty': 'No conversations yet',
  'list.loading': 'Loading…',
  'list.filterStatus': 'Status',
  'list.filterChannel': 'Channel',
  'list.anyStatus': 'Any status',
  'list.anyChannel': 'Any channel',
  'list.customer': 'Customer {id}',
  'list.unassigned': 'Unassigned',
  'list.escalated': 'Escalated',
  'list.noMessages': 'No messages',
  'list.you': 'You: ',
  'list.attachment': '[{kind}]',
  'list.unsent': 'Message removed',
  'status.open': 'Open',
  'status.pending': 'Pending',
  'status.snoozed': 'Snoozed',
  'status.resolved': 'Resolved',
  'channel.whatsapp': 'WhatsApp',
  'channel.instagram': 'Instagram',
  'channel.messenger': 'Messenger',
  'window.standard': '24 h window: {left} left',
  'window.standardOpen': 'Standard reply',
  'window.humanAgent': 'HUMAN_AGENT: {left} left',
  'window.templateOnly': 'Template only',
  'window.closed.expired': 'Closed: more than 7 days',
  'window.closed.no_customer_message': 'Closed: the customer has not written',
  'window.closed.human_agent_only': 'Closed: only a human agent may reply',
  'window.closed.human_agent_not_approved': 'Closed: HUMAN_AGENT not approved on this channel',
  'window.unknown': 'Reply window unknown',
  'window.ended': 'window just ended',
  'composer.standard': 'Reply goes out as a standard message',
  'composer.standardLeft': 'Standard reply, {left} left in the 24 h window',
  'composer.humanAgent': 'Sent with the HUMAN_AGENT tag, {left} left',
  'composer.templateOnly': 'Template only: the 24 h window is closed, pick an approved template',
  'composer.closed': 'You cannot reply: {reason}',
  'composer.placeholder': 'Write a reply… (Enter sends, Shift+Enter new line)',
  'composer.notePlaceholder': 'Write an internal note… (Enter saves)',
  'composer.send': 'Send',
  'composer.saveNote': 'Add note',
  'composer.noteMode': 'Note',
  'composer.replyMode': 'Reply',
  'composer.noteLine': 'Internal note: only your team sees it',
  'composer.pickTemplate': 'Choose a template',
  'composer.parameter': 'Parameter {n}',
  'composer.noTemplates': 'No approved templates on this channel',
  'pane.select': 'Select a conversation',
  'pane.selectText':
    'Messages from WhatsApp, Instagram and Messenger appear here once an account is connected.',
  'pane.assignMe': 'Assign to me',
  'pane.resolve': 'Resolve',
  'pane.reopen': 'Reopen',
  'pane.snoozeHour': 'Snooze 1 h',
  'pane.snoozeTomorrow': 'Snooze until tomorrow',
  'pane.olderMessages': 'Load older messages',
  'pane.assignedTo': 'Assigned to {who}',
  'message.edited': 'edited',
  'message.unsent': 'The customer removed this message',
  'message.unsupported': 'This message type is not supported',
  'message.loadingMedia': 'Loading attachment…',
  'message.mediaFailed': 'Attachment unavailable: {message}',
  'message.location': 'Location',
  'message.template': 'Template {name}',
  'message.retry': 'Retry',
  'message.failed': 'Not delivered: {reason}',
  'message.failedUnknown': 'Not delivered',
  'message.note': 'Note by {author}',
  'state.queued': 'Queued',
  'state.sending': 'Sending',
  'state.sent': 'Sent',
  'state.delivered': 'Delivered',
  'state.read': 'Read',
  'state.failed': 'Failed',
  'search.placeholder': 'Search messages, contacts and notes',
  'search.contacts': 'Contacts',
  'search.messages': 'Messages',
  'search.notes': 'Notes',
  'search.none': 'Nothing found',
  'sync.connecting': 'Connecting',
  'sync.catchingUp': 'Catching up {applied} of {head}',
  'sync.live': 'Live',
  'sync.offline': 'Offline: {reason}, retry in {seconds} s',
  'sync.offlineShort': 'Offline',
  'sync.signedOut': 'Signed out: {reason}',
  'sync.stopped': 'Stopped',
  'shortcuts.title': 'Keyboard shortcuts',
  'shortcuts.next': 'Next conversation',
  'shortcuts.previous': 'Previous conversation',
  'shortcuts.reply': 'Reply',
  'shortcuts.note': 'Write a note',
  'shortcuts.search': 'Search',
  'shortcuts.assign': 'Assign to me',
  'shortcuts.resolve': 'Resolve',
  'shortcuts.help': 'Show this sheet',
  'shortcuts.close': 'Close',
};

export type MessageKey = keyof typeof en;
type Dictionary = Partial<Record<MessageKey, string>>;

const es: Dictionary = {
  'views.all': 'Todas las bandejas',
  'views.mine': 'Mías',
  'views.unassigned': 'Sin asignar',
  'views.escalated': 'Escaladas',
  'sidebar.inboxes': 'Bandejas',
  'sidebar.accounts': 'Cuentas',
  'sidebar.noAccounts': 'Aún no hay cuentas',
  'sidebar.addAccount': 'Añadir cuenta',
  'sidebar.signOut': 'Cerrar sesión',
  'signIn.title': 'Inicia sesión en un relay',
  'signIn.relayUrl': 'URL del relay',
  'signIn.email': 'Correo',
  'signIn.password': 'Contraseña',
  'signIn.tenant': 'Espacio de trabajo (opcional)',
  'signIn.submit': 'Iniciar sesión',
  'errors.wrong_credentials': 'El correo o la contraseña no son correctos.',
  'errors.relay_unreachable': 'No se puede contactar con el relay. Revisa la URL y tu conexión.',
  'errors.keyring_unavailable':
    'El llavero del sistema no está disponible, así que la sesión no se puede guardar de forma segura.',
  'list.search': 'Buscar conversaciones',
  'list.empty': 'Aún no hay conversaciones',
  'list.customer': 'Cliente {id}',
  'list.unassigned': 'Sin asignar',
  'status.open': 'Abierta',
  'status.pending': 'Pendiente',
  'status.snoozed': 'Pospuesta',
  'status.resolved': 'Resuelta',
  'window.standard': 'Ventana de 24 h: quedan {left}',
  'window.humanAgent': 'HUMAN_AGENT: quedan {left}',
  'window.templateOnly': 'Solo plantilla',
  'window.closed.expired': 'Cerrada: más de 7 días',
  'pane.select': 'Selecciona una conversación',
  'pane.assignMe': 'Asignarme',
  'pane.resolve': 'Resolver',
  'pane.reopen': 'Reabrir',
  'composer.send': 'Enviar',
  'message.retry': 'Reintentar',
  'sync.live': 'En directo',
  'sync.connecting': 'Conectando',
  'search.none': 'Sin resultados',
};

export const DICTIONARIES: Record<string, Dictionary> = { en, es };

/** Picks the dictionary for a BCP 47 tag such as `es-AR`; English when there is none. */
export function languageFor(tag: string | undefined): string {
  const base = (tag ?? 'en').toLowerCase().split('-')[0];
  return base in DICTIONARIES ? base : 'en';
}

let current: Dictionary =
  DICTIONARIES[languageFor(typeof navigator === 'undefined' ? undefined : navigator.language)];

/** Switches language (tests, or a future setting). */
export function setLanguage(tag: string): void {
  current = DICTIONARIES[languageFor(tag)];
}

/** The string for `key` in the current language with `{name}` placeholders filled. */
export function t(key: MessageKey, vars?: Record<string, string | number>): string {
  const template = current[key] ?? en[key];
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}
