import { describe, expect, it } from 'vitest';
import type { AgentRecord } from './api';
import { agentActions, clientLabel, sortAgents, when } from './team';

const agent = (id: string, extra: Partial<AgentRecord> = {}): AgentRecord => ({
  id,
  email: `${id}@acme.test`,
  name: null,
  role: 'agent',
  status: 'active',
  must_change_password: false,
  created_at: null,
  last_sign_in_at: null,
  ...extra,
});

describe('agentActions', () => {
  it('lets an admin manage other agents, by status', () => {
    expect(agentActions(agent('bo'), 'ana', true)).toEqual({
      changeRole: true,
      disable: true,
      enable: false,
      remove: true,
      resetPassword: true,
      sessions: true,
    });
    const disabled = agentActions(agent('bo', { status: 'disabled' }), 'ana', true);
    expect(disabled.disable).toBe(false);
    expect(disabled.enable).toBe(true);
  });

  it('offers an admin nothing that would end their own access', () => {
    const mine = agentActions(agent('ana', { role: 'admin' }), 'ana', true);
    expect(mine).toMatchObject({ changeRole: false, disable: false, remove: false, resetPassword: false });
    expect(mine.sessions).toBe(true);
  });

  it('offers an agent nothing', () => {
    expect(Object.values(agentActions(agent('bo'), 'cy', false)).some(Boolean)).toBe(false);
  });
});

describe('table helpers', () => {
  it('sorts agents by email, ignoring case', () => {
    const list = [agent('Zoe'), agent('ana'), agent('Bo')];
    expect(sortAgents(list).map((a) => a.id)).toEqual(['ana', 'Bo', 'Zoe']);
  });

  it('shows times and readable clients only', () => {
    expect(when(null)).toBeNull();
    expect(when('not a time')).toBeNull();
    expect(when('2026-11-23T10:00:00Z')).toMatch(/2026/);
    expect(clientLabel('Ventana 0.1 on Linux')).toBe('Ventana 0.1 on Linux');
    expect(clientLabel({ user_agent: 'reqwest' })).toBe('reqwest');
    expect(clientLabel({ ip: 4 })).toBeNull();
    expect(clientLabel(null)).toBeNull();
  });
});
