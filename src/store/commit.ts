import { KilnError, ErrorCode, type Digest } from '../core/index.ts';
import { blobSize, type LayoutPaths, type Staging } from './blobs.ts';
import type { Catalog, ImageRecord } from './catalog.ts';
import { configLabels, type ImageConfig, type ImageManifest, type Platform } from './oci.ts';
import { formatImageRef, type ImageRef } from './reference.ts';
import { syncLayoutIndex } from './index-sync.ts';

/** What a new image consists of, its blobs already staged or in the store. */
export interface NewImage {
  ref: ImageRef;
  manifestDigest: Digest;
  manifestSize: number;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** NOT_FOUND for an image name, with the hint to list images. */
export function notFound(ref: ImageRef): KilnError {
  return new KilnError(ErrorCode.NOT_FOUND, `no image ${formatImageRef(ref)} in the store`, {
    hint: 'list images with `kiln image show` (add --all for other users\' images)',
  });
}

/** ALREADY_EXISTS for an image name, with the ways out. */
export function exists(ref: ImageRef): KilnError {
  return new KilnError(ErrorCode.ALREADY_EXISTS, `image ${formatImageRef(ref)} already exists`, {
    hint: 'choose another name, remove it first with `kiln image remove`, or pass --force to replace it',
  });
}

/**
 * Makes a staged image visible under its name, atomically, or leaves the store as it was:
 * pins its blobs, moves the staged ones in, then checks inside one write transaction that
 * every blob is present before it writes the name. On failure, `collect` takes out the
 * blobs this commit moved in.
 */
export async function commitImage(
  input: { layout: LayoutPaths; catalog: Catalog; collect: (digests: Digest[]) => Promise<unknown> },
  staging: Staging,
  image: NewImage,
  opts: { force?: boolean } = {},
): Promise<ImageRecord> {
  const { layout, catalog } = input;
  if (!opts.force && catalog.findImage(image.ref)) throw exists(image.ref);
  const blobs: Digest[] = [image.manifestDigest, image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest)];
  // node:crypto loads on first use, not at start-up (listing images hashes nothing).
  const token = process.getBuiltinModule('node:crypto').randomBytes(8).toString('hex');
  await catalog.pin(blobs, token);
  const added: Digest[] = [];
  let committed = false;
  try {
    await staging.publish(layout, blobs, added);
    const record = imageRecordOf(image);
    await catalog.writeAsync(`adding image ${formatImageRef(image.ref)}`, () => {
      const missing = blobs.filter((d) => blobSize(layout, d) === undefined);
      if (missing.length > 0) {
        throw new KilnError(ErrorCode.CONFLICT, `blob ${missing[0]} disappeared while the image was being added`, {
          hint: 'another kiln process removed it (gc or remove); run the command again',
        });
      }
      if (!opts.force && catalog.findImage(image.ref)) throw exists(image.ref);
      catalog.putImage(record, blobs);
      syncLayoutIndex(layout, catalog);
    });
    committed = true;
    return record;
  } finally {
    await catalog.unpin(token);
    // On failure, blobs this operation brought in are orphans: take them out again.
    if (!committed && added.length > 0) await input.collect(added);
  }
}

/** The catalog record of a new image: its size, labels and platform from the manifest and config. */
export function imageRecordOf(image: NewImage, now = new Date().toISOString()): ImageRecord {
  const platform: Platform = { os: image.config.os, architecture: image.config.architecture };
  if (image.config.variant) platform.variant = image.config.variant;
  return {
    ref: image.ref,
    manifestDigest: image.manifestDigest,
    created: typeof image.config.created === 'string' ? image.config.created : now,
    size: image.manifestSize + image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0),
    labels: configLabels(image.config),
    platform,
    added: now,
  };
}
