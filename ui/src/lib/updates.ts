/**
 * What an `engine-update` asks the UI to reload. Pure, so the dispatch is tested apart
 * from the components that carry it out.
 */
import type { AccountNotice, EngineUpdate, SyncState } from './api';

export interface OpenRef {
  account: string;
  conversation: string;
}

export interface RefreshPlan {
  /** Re-read the account list. */
  accounts: boolean;
  /** Re-read the top of the inbox; `changed` lists `account/id` keys to patch below it. */
  inbox: boolean;
  changed: { account: string; id: string }[];
  /** Re-read the open conversation's messages, notes and summary. */
  conversation: boolean;
  /** Re-read the open conversation's templates. */
  templates: boolean;
  /** New sync states, in arrival order. */
  sync: { account: string; state: SyncState }[];
  /** Notices to show the agent (a sign-out by the relay, a resync…). */
  notices: AccountNotice[];
}

const nothing = (): RefreshPlan => ({
  accounts: false,
  inbox: false,
  changed: [],
  conversation: false,
  templates: false,
  sync: [],
  notices: [],
});

export function planUpdate(update: EngineUpdate, open: OpenRef | null): RefreshPlan {
  const plan = nothing();
  switch (update.type) {
    case 'sync':
      plan.sync = [{ account: update.account, state: update.state }];
      break;
    case 'conversations':
      plan.inbox = true;
      // Unread counts live on the accounts (the sidebar and the window's badge).
      plan.accounts = true;
      plan.changed = update.conversations.map((id) => ({ account: update.account, id }));
      plan.conversation =
        open !== null &&
        open.account === update.account &&
        update.conversations.includes(open.conversation);
      break;
    case 'channels':
      plan.templates = open !== null && open.account === update.account;
      break;
    case 'accounts':
      plan.accounts = true;
      plan.inbox = true;
      break;
    case 'account_notice': {
      const { type: _, ...notice } = update;
      plan.notices = [notice as AccountNotice];
      plan.accounts = true;
      plan.inbox = true;
      break;
    }
    case 'reload':
      plan.accounts = true;
      plan.inbox = true;
      plan.conversation = open !== null;
      plan.templates = open !== null;
      break;
    default:
      // `notice`: the desktop notification already told the agent; the matching
      // `conversations` update carries the data.
      break;
  }
  return plan;
}

/** Combines plans that arrive within one frame so a burst of updates costs one reload. */
export function mergePlans(a: RefreshPlan, b: RefreshPlan): RefreshPlan {
  return {
    accounts: a.accounts || b.accounts,
    inbox: a.inbox || b.inbox,
    changed: [...a.changed, ...b.changed],
    conversation: a.conversation || b.conversation,
    templates: a.templates || b.templates,
    sync: [...a.sync, ...b.sync],
    notices: [...a.notices, ...b.notices],
  };
}
