import { invoke } from '@tauri-apps/api/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appInfo, isCommandError, toCommandError } from './api';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
const invokeMock = vi.mocked(invoke);

/** Lets the mock behave like the real `invoke` (which needs the Tauri runtime). */
async function realInvoke(...args: Parameters<typeof invoke>) {
  const core = await vi.importActual<typeof import('@tauri-apps/api/core')>('@tauri-apps/api/core');
  return core.invoke(...args);
}

beforeEach(() => {
  invokeMock.mockReset();
});

describe('toCommandError', () => {
  it('passes a Rust command error { code, message } through', () => {
    expect(toCommandError({ code: 'internal', message: 'boom' })).toEqual({
      code: 'internal',
      message: 'boom',
    });
  });

  it('keeps only code and message from a command error', () => {
    expect(toCommandError({ code: 'not_found', message: 'gone', extra: 1 })).toEqual({
      code: 'not_found',
      message: 'gone',
    });
  });

  it('turns an Error into code "unknown" with its message', () => {
    expect(toCommandError(new TypeError('bad ipc'))).toEqual({ code: 'unknown', message: 'bad ipc' });
  });

  it('turns a string into code "unknown" with that string as the message', () => {
    expect(toCommandError('database is locked')).toEqual({
      code: 'unknown',
      message: 'database is locked',
    });
  });

  it('turns an object with only a message into code "unknown" with that message', () => {
    expect(toCommandError({ message: 'half an error' })).toEqual({
      code: 'unknown',
      message: 'half an error',
    });
  });

  it('gives null, undefined and other shapes code "unknown" and a non-empty message', () => {
    for (const value of [null, undefined, 42, { code: 7 }, [1, 2]]) {
      const error = toCommandError(value);
      expect(error.code).toBe('unknown');
      expect(typeof error.message).toBe('string');
      expect(error.message.length).toBeGreaterThan(0);
    }
  });

  it('always returns something isCommandError accepts', () => {
    for (const value of [{ code: 'a', message: 'b' }, new Error('x'), 'y', null, 3]) {
      expect(isCommandError(toCommandError(value))).toBe(true);
    }
  });
});

describe('appInfo', () => {
  afterEach(() => {
    delete (window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__;
  });

  it('invokes the app_info command and resolves with its result', async () => {
    invokeMock.mockResolvedValue({ name: 'ventana', version: '1.2.3' });

    await expect(appInfo()).resolves.toEqual({ name: 'ventana', version: '1.2.3' });
    expect(invokeMock).toHaveBeenCalledTimes(1);
    expect(invokeMock).toHaveBeenCalledWith('app_info');
  });

  it('rejects with the command error sent by Rust', async () => {
    invokeMock.mockRejectedValue({ code: 'internal', message: 'boom' });

    await expect(appInfo()).rejects.toEqual({ code: 'internal', message: 'boom' });
  });

  it('normalises other failures inside Tauri to code "unknown"', async () => {
    (window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__ = {};
    invokeMock.mockRejectedValue(new Error('ipc closed'));

    await expect(appInfo()).rejects.toEqual({ code: 'unknown', message: 'ipc closed' });
  });

  it('rejects with code "no_tauri" when running outside the desktop app', async () => {
    expect('__TAURI_INTERNALS__' in window).toBe(false);
    invokeMock.mockImplementation(realInvoke);

    const error: unknown = await appInfo().then(
      () => {
        throw new Error('expected appInfo() to reject');
      },
      (rejection: unknown) => rejection,
    );
    expect(isCommandError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'no_tauri' });
    expect((error as { message: string }).message).toMatch(/Tauri/);
  });
});
