import { Readable } from 'node:stream';
import { MediaType, silentLogger, type Digest, type Logger } from '../core/index.ts';
import { parseManifest, type ImageRecord, type Store } from '../store/index.ts';
import type { BlobLocations } from './blob-locations.ts';
import { headManifest, pushBlob, putManifest, type BlobPush } from './distribution.ts';
import { forEachLimited } from './pull.ts';
import type { RegistryTransport } from './transport.ts';

/** What to push, and where. */
export interface PushOptions {
  store: Store;
  transport: RegistryTransport;
  record: ImageRecord;
  /** Repository on the registry (Artifactory's repository key included). */
  repo: string;
  tag: string;
  locations?: BlobLocations | undefined;
  concurrency?: number | undefined;
  logger?: Logger | undefined;
  signal?: AbortSignal | undefined;
}

/** What a push did: the manifest digest (the store's, byte for byte) and how each blob got there. */
export interface PushResult {
  digest: Digest;
  blobs: Record<BlobPush, number>;
}

/**
 * Pushes an image of the store: layers in parallel (each HEAD first, then a mount or an
 * upload), then the config, then the manifest exactly as stored, so digests match.
 */
export async function pushImage(o: PushOptions): Promise<PushResult> {
  const { store, transport, repo } = o;
  const logger = o.logger ?? silentLogger;
  const bytes = await store.readManifestBytes(o.record.manifestDigest);
  const manifest = parseManifest(bytes, `manifest ${o.record.manifestDigest}`);
  const blobs: Record<BlobPush, number> = { exists: 0, mounted: 0, uploaded: 0 };
  const all = [...manifest.layers, manifest.config];
  if ((await headManifest(transport, repo, o.tag, o.signal)) === o.record.manifestDigest) {
    blobs.exists = all.length;
    logger.debug(`${transport.registry.label}: ${repo}:${o.tag} is already this image`);
    return { digest: o.record.manifestDigest, blobs };
  }
  const open = (digest: Digest) => (start: number, end: number): Readable =>
    store.openBlobRange(digest, { start, end });
  const push = async (d: { digest: Digest; size: number }): Promise<void> => {
    const mountFrom = o.locations?.find(transport.baseUrl, d.digest, repo);
    const how = await pushBlob(transport, repo, d, open(d.digest), { mountFrom, signal: o.signal });
    if (how === 'uploaded' && mountFrom) logger.debug(`${transport.registry.label}: mount of ${d.digest} from ${mountFrom} refused; uploaded`);
    if (how === 'mounted') logger.debug(`${transport.registry.label}: mounted ${d.digest} from ${mountFrom}`);
    blobs[how]++;
  };
  const layers = manifest.layers.filter((l, i, list) => list.findIndex((x) => x.digest === l.digest) === i);
  await forEachLimited(layers, o.concurrency ?? 4, push);
  await push(manifest.config);
  await putManifest(transport, repo, o.tag, bytes, manifest.mediaType ?? MediaType.ociManifest, o.signal);
  o.locations?.note(transport.baseUrl, repo, all.map((d) => d.digest));
  return { digest: o.record.manifestDigest, blobs };
}
