import type { ExportProgress } from './api';

/** A size as people read it: 980 B, 12.4 KB, 3.1 MB (decimal units, as file managers show). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** How far along an export is, 0..1, or null while the total is not known. */
export function fraction(step: ExportProgress): number | null {
  if (step.total === null || step.total <= 0) return null;
  return Math.min(1, step.received / step.total);
}
