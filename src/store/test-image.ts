import { Readable } from 'node:stream';
import { MediaType, digestOf, tarStream, type Digest } from '../core/index.ts';
import type { Staging } from './blobs.ts';
import type { ImageRecord } from './catalog.ts';
import type { NewImage } from './commit.ts';
import { parseConfig, parseManifest, renderManifest } from './oci.ts';
import type { ImageRef } from './reference.ts';
import type { Store } from './store.ts';

/** What a test image holds. */
export interface TestImageSpec {
  /** Files of its one layer (an uncompressed tar), by path. */
  files?: Record<string, string>;
  labels?: Record<string, string>;
  /** Forget to stage the layer (a commit of it must fail, unless the store has the layer). */
  withoutLayer?: boolean;
}

/** A test image staged in a store, ready to commit. */
export interface StagedTestImage {
  staging: Staging;
  image: NewImage;
  layer: { digest: Digest; bytes: Buffer };
}

/** An uncompressed tar of `files`. */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tarStream().pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Stages a one-layer image for `ref` through the store's own staging area (made by tests, not committed fixtures). */
export async function stageTestImage(store: Store, ref: ImageRef, spec: TestImageSpec = {}): Promise<StagedTestImage> {
  const layerBytes = await tarOf(spec.files ?? { 'etc/hostname': `${ref.name}\n` });
  const layer = { mediaType: MediaType.ociLayer, digest: digestOf(layerBytes), size: layerBytes.length };
  const configText = JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z',
    config: { Labels: spec.labels ?? {} }, rootfs: { type: 'layers', diff_ids: [layer.digest] },
  });
  const staging = await store.createStaging();
  try {
    if (!spec.withoutLayer) await staging.stage(Readable.from([layerBytes]), { digest: layer.digest, size: layer.size });
    const config = await staging.stageBytes(configText);
    const manifestText = renderManifest({ mediaType: MediaType.ociConfig, digest: config.digest, size: config.size }, [layer]);
    const manifest = await staging.stageBytes(manifestText);
    return {
      staging,
      image: {
        ref, manifestDigest: manifest.digest, manifestSize: manifest.size,
        manifest: parseManifest(manifestText, 'test manifest'), config: parseConfig(configText, 'test config'),
      },
      layer: { digest: layer.digest, bytes: layerBytes },
    };
  } catch (err) {
    await staging.dispose();
    throw err;
  }
}

/** Stages and commits a one-layer test image; the staging area is disposed either way. */
export async function commitTestImage(store: Store, ref: ImageRef, spec: TestImageSpec = {}, options: { force?: boolean } = {}): Promise<ImageRecord> {
  const { staging, image } = await stageTestImage(store, ref, spec);
  try {
    return await store.commitImage(staging, image, options);
  } finally {
    await staging.dispose();
  }
}
