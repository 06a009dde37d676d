/**
 * Label edits on a conversation. The relay takes the complete new set and refuses more
 * than 50 labels or one that is blank or longer than 50 characters; the same rules here
 * keep a typo from becoming a round trip.
 */

export const MAX_LABELS = 50;
export const MAX_LABEL_LENGTH = 50;

/** The labels with `text` added, or `null` when it is blank, too long, a repeat or one too many. */
export function withLabel(labels: string[], text: string): string[] | null {
  const label = text.trim();
  if (!label || [...label].length > MAX_LABEL_LENGTH) return null;
  if (labels.includes(label) || labels.length >= MAX_LABELS) return null;
  return [...labels, label];
}

export const withoutLabel = (labels: string[], label: string) => labels.filter((l) => l !== label);
