import type { Readable } from 'node:stream';
import type { Digest, Progress } from '../core/index.ts';
import type { Catalog } from './catalog.ts';
import { createStaging, type ExpectedContent, type LayoutPaths } from './blobs.ts';

/**
 * Blobs kept from gc while the process that holds them runs, although no image refers to
 * them yet: a build's layers between the step that made them and the image that tags them.
 */
export interface BlobHold {
  /** Holds these blobs too (before checking that they are still there). */
  add(digests: readonly Digest[]): void;
  /** Lets gc judge them by the images again. */
  release(): void;
}

/** A blob added on its own, outside any image. */
export interface AddedBlob {
  digest: Digest;
  size: number;
}

/** Holds and loose additions of blobs, over the catalog's pins (pins of dead processes expire). */
export interface HeldBlobs {
  holdBlobs(): BlobHold;
  /**
   * Streams a blob into the store, verified against `expected` when given, and adds it
   * under `hold` (one copy on disk: staged, then renamed in). Once the hold is released
   * and no image refers to it, gc removes it.
   */
  addBlob(source: Readable | AsyncIterable<Uint8Array>, hold: BlobHold, options?: { expected?: ExpectedContent; signal?: AbortSignal; progress?: Progress }): Promise<AddedBlob>;
}

/** Holds on `catalog`'s pins, additions into `layout` through staging areas under `tmpDir`. */
export function createHeldBlobs(catalog: Catalog, layout: LayoutPaths, tmpDir: string): HeldBlobs {
  return {
    holdBlobs: () => {
      // node:crypto loads on first use, not at start-up (listing images hashes nothing).
      const token = process.getBuiltinModule('node:crypto').randomBytes(8).toString('hex');
      return {
        add: (digests) => {
          if (digests.length > 0) catalog.pin(digests, token);
        },
        release: () => catalog.unpin(token),
      };
    },
    addBlob: async (source, hold, options = {}) => {
      const staging = await createStaging(tmpDir, options.signal, options.progress);
      try {
        const blob = await staging.stage(source, options.expected);
        hold.add([blob.digest]);
        await staging.publish(layout, [blob.digest], []);
        return { digest: blob.digest, size: blob.size };
      } finally {
        await staging.dispose();
      }
    },
  };
}
