/**
 * The maths of a windowed list: fixed-height rows, only the slice in view (plus a little
 * overscan) is rendered, so the DOM stays small however many rows are loaded.
 */

export interface Slice {
  /** First row index to render. */
  start: number;
  /** One past the last row index to render. */
  end: number;
  /** Pixel offset of row `start` from the top of the scroll content. */
  offset: number;
  /** Height of the whole scroll content. */
  total: number;
}

export function visibleSlice(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 6,
): Slice {
  const total = count * rowHeight;
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0, total };
  const top = Math.max(0, Math.min(scrollTop, Math.max(0, total - viewportHeight)));
  const first = Math.floor(top / rowHeight);
  const inView = Math.ceil(Math.max(viewportHeight, rowHeight) / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + inView + overscan);
  return { start, end, offset: start * rowHeight, total };
}

/** Whether the rendered slice is close enough to the end of what is loaded to fetch more. */
export function wantsMore(end: number, loaded: number, exhausted: boolean, threshold = 40): boolean {
  return !exhausted && loaded - end <= threshold;
}

/** Whether the rendered slice is close enough to the first held row (`offset` rows from the
 * top, those above let go) to load the rows before it. */
export function wantsEarlier(start: number, offset: number, threshold = 40): boolean {
  return offset > 0 && start - offset <= threshold;
}

/** The scrollTop that brings row `index` fully into view, or `null` if it already is. */
export function scrollToRow(
  index: number,
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
): number | null {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewportHeight) return top + rowHeight - viewportHeight;
  return null;
}
