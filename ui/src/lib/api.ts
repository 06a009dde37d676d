/**
 * The only place the UI talks to the Rust side.
 *
 * Every Tauri command gets a typed wrapper here; components import these
 * wrappers and never call `invoke` themselves.
 */
import { invoke } from '@tauri-apps/api/core';

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
