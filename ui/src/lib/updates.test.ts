import { describe, expect, it } from 'vitest';
import { mergePlans, planUpdate } from './updates';

const open = { account: 'a1', conversation: 'c1' };

describe('planUpdate', () => {
  it('reloads the inbox and the open conversation when it changed', () => {
    const plan = planUpdate({ type: 'conversations', account: 'a1', conversations: ['c1', 'c2'] }, open);
    expect(plan.accounts).toBe(true);
    expect(plan.inbox).toBe(true);
    expect(plan.conversation).toBe(true);
    expect(plan.changed).toEqual([
      { account: 'a1', id: 'c1' },
      { account: 'a1', id: 'c2' },
    ]);
  });

  it('leaves the open conversation alone when another one changed', () => {
    expect(planUpdate({ type: 'conversations', account: 'a1', conversations: ['c2'] }, open).conversation).toBe(false);
    // Same conversation id under another account is another conversation.
    expect(planUpdate({ type: 'conversations', account: 'a2', conversations: ['c1'] }, open).conversation).toBe(false);
  });

  it('shows a notice about an account, and reloads what it changed', () => {
    const plan = planUpdate(
      {
        type: 'account_notice',
        id: 3,
        account: 'a1',
        tenant_name: 'Acme',
        agent_email: 'bo@acme.test',
        kind: 'signed_out',
        code: 'access_removed',
        message: 'removed',
        cache_removed: true,
      },
      open,
    );
    expect(plan.notices).toHaveLength(1);
    expect(plan.notices[0]).toMatchObject({ id: 3, kind: 'signed_out', code: 'access_removed' });
    expect(plan.notices[0]).not.toHaveProperty('type');
    expect(plan.accounts).toBe(true);
    expect(mergePlans(plan, plan).notices).toHaveLength(2);
  });

  it('records sync states without reloading data', () => {
    const state = { state: 'live' as const, head: 4 };
    const plan = planUpdate({ type: 'sync', account: 'a1', state }, open);
    expect(plan.sync).toEqual([{ account: 'a1', state }]);
    expect(plan.inbox).toBe(false);
  });

  it('reloads accounts and inbox on accounts, everything on reload', () => {
    const accounts = planUpdate({ type: 'accounts' }, null);
    expect([accounts.accounts, accounts.inbox, accounts.conversation]).toEqual([true, true, false]);
    const reload = planUpdate({ type: 'reload' }, open);
    expect([reload.accounts, reload.inbox, reload.conversation, reload.templates]).toEqual([true, true, true, true]);
  });

  it('reloads templates when the open account’s channels changed', () => {
    expect(planUpdate({ type: 'channels', account: 'a1' }, open).templates).toBe(true);
    expect(planUpdate({ type: 'channels', account: 'a2' }, open).templates).toBe(false);
  });
});

describe('mergePlans', () => {
  it('keeps every sync state and ors the flags', () => {
    const a = planUpdate({ type: 'sync', account: 'a1', state: { state: 'connecting' } }, null);
    const b = planUpdate({ type: 'sync', account: 'a2', state: { state: 'stopped' } }, null);
    const c = planUpdate({ type: 'conversations', account: 'a1', conversations: ['x'] }, null);
    const merged = mergePlans(mergePlans(a, b), c);
    expect(merged.sync.map((s) => s.account)).toEqual(['a1', 'a2']);
    expect(merged.inbox).toBe(true);
  });
});
