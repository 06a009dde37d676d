/**
 * What the team settings offer for each agent, decided from the agent's row and who is
 * looking. The relay enforces the same (admins only; never the last active admin), so this
 * only spares the admin buttons that would be refused.
 */
import type { AgentRecord } from './api';

export interface AgentActions {
  changeRole: boolean;
  disable: boolean;
  enable: boolean;
  remove: boolean;
  resetPassword: boolean;
  sessions: boolean;
}

/**
 * An admin manages everyone but themselves here: their own role, status and removal would
 * end their own access from under them (they change their own password instead).
 */
export function agentActions(agent: AgentRecord, me: string, admin: boolean): AgentActions {
  const other = admin && agent.id !== me;
  return {
    changeRole: other,
    disable: other && agent.status === 'active',
    enable: other && agent.status === 'disabled',
    remove: other,
    resetPassword: other,
    sessions: admin,
  };
}

/** Agents by email, case and accents ignored, so the table reads as a list people search. */
export function sortAgents(list: AgentRecord[]): AgentRecord[] {
  return [...list].sort((a, b) => a.email.localeCompare(b.email, undefined, { sensitivity: 'base' }));
}

/** A time as the tables show it; `null` when there is none. */
export function when(at: string | null | undefined): string | null {
  if (!at) return null;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return null;
  return date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** What a session's `client` says, if anything readable (its shape is the relay's). */
export function clientLabel(client: unknown): string | null {
  if (typeof client === 'string') return client || null;
  if (client && typeof client === 'object') {
    const record = client as Record<string, unknown>;
    for (const field of ['name', 'user_agent', 'label', 'address']) {
      const value = record[field];
      if (typeof value === 'string' && value) return value;
    }
  }
  return null;
}

/** Copies text to the clipboard; falls back to selecting it in `input` for Ctrl+C. */
export async function copyText(text: string, input?: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!input) return false;
    input.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}
