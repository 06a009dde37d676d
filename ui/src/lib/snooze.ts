/** When a snooze ends: in an hour, or tomorrow at 9:00 local time. */
export function snoozeUntil(choice: 'hour' | 'tomorrow', now: Date): string {
  if (choice === 'hour') return new Date(now.getTime() + 3_600_000).toISOString();
  const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0, 0, 0);
  return tomorrow.toISOString();
}
