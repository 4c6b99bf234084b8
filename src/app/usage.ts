import { formatImageRef, type ImageRef } from '../store/index.ts';

/**
 * Which images nodes boot. The catalog will answer this once it keeps nodes (a store method
 * `imagesInUse()`): pass the store here then; until nodes exist nothing is in use.
 */
export interface ImageUsage {
  /** `<user>/<name>:<tag>` of every image some node boots. */
  imagesInUse(): ReadonlySet<string>;
}

/** No nodes yet: no image is in use. */
export const NOTHING_IN_USE: ImageUsage = { imagesInUse: () => new Set() };

/** A predicate over image references, asked once per listing (one catalog query, not one per image). */
export function inUseOf(usage: ImageUsage): (ref: ImageRef) => boolean {
  const set = usage.imagesInUse();
  return (ref) => set.has(formatImageRef(ref));
}
