import { invoke } from '@tauri-apps/api/core';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import ContactPanel from './ContactPanel.svelte';
import type { AccountView, ContactProfile, ErasureReceipt, ExportProgress } from './api';

vi.mock('@tauri-apps/api/core', () => ({
  invoke: vi.fn(),
  // Tauri's progress channel: the test calls `onmessage` as the shell would.
  Channel: class {
    onmessage: (step: unknown) => void = () => {};
  },
}));
const invokeMock = vi.mocked(invoke);

const account = (role: string) => ({ id: 'acc1', label: 'Acme', role }) as AccountView;

const PROFILE: ContactProfile = {
  id: 'k1',
  name: 'Ana Pérez',
  channel: { id: 'ch1', kind: 'whatsapp', name: 'Acme WhatsApp' },
  opted_out: true,
  consent_changed_at: '2026-01-03T10:00:00Z',
  first_seen_at: '2026-01-01T10:00:00Z',
  last_seen_at: '2026-01-03T10:00:00Z',
  conversations: [
    { id: 'c2', status: 'open', last_activity_at: '2026-01-03T10:00:00Z' },
    { id: 'c1', status: 'resolved', last_activity_at: '2026-01-01T10:00:00Z' },
  ],
  messages: 12,
  attachments: 2,
};

const RECEIPT: ErasureReceipt = {
  receipt: 'er_0191',
  tenant: 't',
  contact: 'k1',
  channel_kind: 'whatsapp',
  events_redacted: 14,
  media_removed: 2,
  replies_removed: 0,
  quarantined_removed: 0,
  seq: 99,
};

let erase: () => unknown;
let exportContact: (args: { progress: { onmessage: (step: ExportProgress) => void } }) => Promise<unknown>;

beforeEach(() => {
  erase = () => RECEIPT;
  exportContact = async () => ({ path: '/home/ana/Downloads/ventana-export-Ana-P-rez-2026-12-07.zip', bytes: 2_000 });
  invokeMock.mockReset();
  invokeMock.mockImplementation(async (command: string, args?: unknown) => {
    if (command === 'contact') return PROFILE;
    if (command === 'erase_contact') return erase();
    if (command === 'export_contact') return exportContact(args as Parameters<typeof exportContact>[0]);
    throw { code: 'not_mocked', message: command };
  });
});

async function openErase() {
  // As from the keyboard: the button has the focus when it is pressed.
  const button = await screen.findByTestId('erase-contact');
  button.focus();
  await fireEvent.click(button);
  return screen.getByTestId('erase-dialog');
}

describe('ContactPanel', () => {
  it('shows the profile, marks an opt-out and opens a conversation from the history', async () => {
    const onopen = vi.fn();
    render(ContactPanel, { account: account('agent'), contact: 'k1', onopen, onclose: vi.fn() });

    expect((await screen.findByTestId('contact-name')).textContent).toBe('Ana Pérez');
    expect(invokeMock).toHaveBeenCalledWith('contact', { account: 'acc1', contact: 'k1' });
    expect(screen.getByTestId('contact-channel').textContent).toContain('Acme WhatsApp');
    expect(screen.getByTestId('contact-opted-out').textContent).toContain('Opted out');
    expect(screen.getByTestId('contact-messages').textContent).toBe('12');
    expect(screen.getByTestId('contact-attachments').textContent).toBe('2');

    const history = screen.getAllByTestId('contact-conversation');
    expect(history.map((h) => h.textContent)).toEqual([expect.stringContaining('Open'), expect.stringContaining('Resolved')]);
    await fireEvent.click(history[1]);
    expect(onopen).toHaveBeenCalledWith('c1');
  });

  it('does not offer erasure to an agent', async () => {
    render(ContactPanel, { account: account('agent'), contact: 'k1', onclose: vi.fn() });

    expect((await screen.findByTestId('erase-not-allowed')).textContent).toBe('Only admins can erase a person.');
    expect(screen.queryByTestId('erase-contact')).toBeNull();
  });

  it('erases only once ERASE is typed, then shows the receipt', async () => {
    const onerased = vi.fn();
    render(ContactPanel, { account: account('admin'), contact: 'k1', onclose: vi.fn(), onerased });
    await openErase();

    const input = screen.getByTestId('erase-confirm-input') as HTMLInputElement;
    const submit = screen.getByTestId('erase-confirm-submit') as HTMLButtonElement;
    expect(document.activeElement).toBe(input);
    expect(submit.disabled).toBe(true);
    for (const almost of ['erase', 'ERAS', 'ERASE ']) {
      await fireEvent.input(input, { target: { value: almost } });
      expect(submit.disabled).toBe(true);
    }
    await fireEvent.input(input, { target: { value: 'ERASE' } });
    expect(submit.disabled).toBe(false);
    await fireEvent.click(submit);

    expect((await screen.findByTestId('erase-receipt')).textContent).toContain('er_0191');
    expect(invokeMock).toHaveBeenCalledWith('erase_contact', { account: 'acc1', contact: 'k1', confirm: 'ERASE' });
    expect(onerased).toHaveBeenCalledWith(PROFILE, RECEIPT);
    expect(screen.queryByTestId('erase-dialog')).toBeNull();
  });

  it('shows the relay’s refusal and changes nothing', async () => {
    erase = () => {
      throw { code: 'forbidden', message: 'only an admin can erase a contact in this tenant' };
    };
    const onerased = vi.fn();
    render(ContactPanel, { account: account('admin'), contact: 'k1', onclose: vi.fn(), onerased });
    await openErase();

    await fireEvent.input(screen.getByTestId('erase-confirm-input'), { target: { value: 'ERASE' } });
    await fireEvent.click(screen.getByTestId('erase-confirm-submit'));

    expect((await screen.findByTestId('erase-error')).textContent).toBe('Your role does not allow this.');
    expect(onerased).not.toHaveBeenCalled();
    expect(screen.queryByTestId('erase-receipt')).toBeNull();
    expect(screen.getByTestId('contact-name')).toBeTruthy();
  });

  it('does not offer an export to an agent', async () => {
    render(ContactPanel, { account: account('agent'), contact: 'k1', onclose: vi.fn() });

    await screen.findByTestId('contact-name');
    expect(screen.queryByTestId('export-contact')).toBeNull();
  });

  it('exports with a progress bar, then says where the file is', async () => {
    let finish: (saved: unknown) => void = () => {};
    let report: (step: ExportProgress) => void = () => {};
    exportContact = (args) => {
      report = args.progress.onmessage;
      return new Promise((resolve) => (finish = resolve));
    };
    render(ContactPanel, { account: account('admin'), contact: 'k1', onclose: vi.fn() });
    const button = (await screen.findByTestId('export-contact')) as HTMLButtonElement;
    await fireEvent.click(button);

    expect(invokeMock).toHaveBeenCalledWith('export_contact', expect.objectContaining({ account: 'acc1', contact: 'k1' }));
    expect(button.disabled).toBe(true);
    report({ received: 500_000, total: 2_000_000 });
    await waitFor(() => expect((screen.getByTestId('export-progress') as HTMLProgressElement).value).toBe(0.25));
    expect(screen.getByText('500 KB of 2.0 MB')).toBeTruthy();

    finish({ path: '/home/ana/Downloads/ventana-export-Ana-2026-12-07.zip', bytes: 2_000_000 });
    expect((await screen.findByTestId('export-done')).textContent).toContain(
      'Saved to /home/ana/Downloads/ventana-export-Ana-2026-12-07.zip (2.0 MB)',
    );
    expect(screen.queryByTestId('export-progress')).toBeNull();
    expect(button.disabled).toBe(false);
  });

  it('says why an export failed', async () => {
    exportContact = async () => {
      throw { code: 'relay_unreachable', message: 'the relay at http://x cannot be reached' };
    };
    render(ContactPanel, { account: account('admin'), contact: 'k1', onclose: vi.fn() });
    await fireEvent.click(await screen.findByTestId('export-contact'));

    expect((await screen.findByTestId('export-error')).textContent).not.toBe('');
    expect(screen.queryByTestId('export-done')).toBeNull();
  });

  it('closes the dialog alone on Escape, then the panel keeps its button', async () => {
    const onclose = vi.fn();
    render(ContactPanel, { account: account('admin'), contact: 'k1', onclose });
    await openErase();

    await fireEvent.keyDown(screen.getByTestId('erase-confirm-input'), { key: 'Escape' });

    await waitFor(() => expect(screen.queryByTestId('erase-dialog')).toBeNull());
    expect(onclose).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(screen.getByTestId('erase-contact'));
  });
});
