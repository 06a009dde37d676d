/** Erasing a person: the typed confirmation, and what the app must let go of afterwards. */
import type { ContactProfile } from './api';
import type { OpenRef } from './updates';
import { ERASE_WORD } from './contract';

/** The word the agent types (the contract's, generated); the Rust command and the relay check it again. */
export { ERASE_WORD };

/** Exactly the word: no trimming or case folding, erasure cannot be undone. */
export const eraseConfirmed = (typed: string) => typed === ERASE_WORD;

/** Whether the open conversation is one of the erased contact's. */
export function openBelongsTo(open: OpenRef | null, account: string, profile: ContactProfile): boolean {
  return (
    open !== null &&
    open.account === account &&
    profile.conversations.some((conversation) => conversation.id === open.conversation)
  );
}
