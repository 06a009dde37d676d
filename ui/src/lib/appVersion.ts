import { appInfo, toCommandError } from './api';

/** What the sidebar footer knows about the app version. */
export type VersionState =
  | { status: 'loading' }
  | { status: 'ready'; version: string }
  | { status: 'unavailable'; reason: string };

/** Asks the Rust side for the version; never rejects. */
export async function loadVersion(): Promise<VersionState> {
  try {
    const info = await appInfo();
    return { status: 'ready', version: info.version };
  } catch (error) {
    return { status: 'unavailable', reason: toCommandError(error).message };
  }
}
