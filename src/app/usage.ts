import { formatImageRef, type ImageRef } from '../store/index.ts';

/** Which images nodes boot: by default the catalog's nodes table answers (`Store.imagesInUse`). */
export interface ImageUsage {
  /** `<user>/<name>:<tag>` of every image some node boots. */
  imagesInUse(): ReadonlySet<string>;
}

/** No image in use (tests, tools without nodes). */
export const NOTHING_IN_USE: ImageUsage = { imagesInUse: () => new Set() };

/** A predicate over image references, asked once per listing (one catalog query, not one per image). */
export function inUseOf(usage: ImageUsage): (ref: ImageRef) => boolean {
  const set = usage.imagesInUse();
  return (ref) => set.has(formatImageRef(ref));
}
