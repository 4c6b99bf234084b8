import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, digestHex, layerCompression, silentLogger, type Digest, type Logger, type Progress } from '../core/index.ts';
import {
  configLabels, formatImageRef, isOciManifest, manifestKind, parseConfig, parseIndex, parseManifest, renderManifest,
  createLayerScanThread, verifyDiffIds, type Descriptor, type DiffIdOutcome, type LayerScan, type LayerScanResult, type LayerScanThread, type ImageRecord, type ImageRef, type Platform, type Store,
} from '../store/index.ts';
import { createBlobCache, type BlobCache, type BlobOpener } from './blob-cache.ts';
import { getBlob, getManifest, type FetchedManifest } from './distribution.ts';
import { nodeBody } from './node-fetch.ts';
import { choosePlatform } from './platform.ts';
import type { RegistryTransport } from './transport.ts';

/** What to pull, and where to put it. */
export interface PullOptions {
  store: Store;
  transport: RegistryTransport;
  /** Repository on the registry (Artifactory's repository key included). */
  repo: string;
  /** Tag or digest. */
  reference: string;
  target: ImageRef;
  platform?: Platform | undefined;
  force?: boolean | undefined;
  /** Layers downloading at once. */
  concurrency?: number | undefined;
  logger?: Logger | undefined;
  progress?: Progress | undefined;
  signal?: AbortSignal | undefined;
}

/** What a pull did. */
export interface PullResult {
  record: ImageRecord;
  /** The registry's manifest digest (for a multi-platform image: the chosen platform's). */
  sourceDigest: Digest;
  /** Blobs downloaded (or resumed), and blobs the store already had. */
  downloaded: number;
  reused: number;
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure aborts the rest. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function exists(ref: ImageRef): KilnError {
  return new KilnError(ErrorCode.ALREADY_EXISTS, `image ${formatImageRef(ref)} already exists`, {
    hint: 'give another name as second argument, remove it first with `kiln image remove`, or pass --force to replace it',
  });
}

/** Resolves a tag to one image manifest, choosing a platform when it is an index. */
async function resolveImage(o: PullOptions, cache: BlobCache): Promise<{ fetched: FetchedManifest; label: string }> {
  const { transport, repo } = o;
  const label = `${transport.registry.label}:${repo}:${o.reference}`;
  let fetched = await getManifest(transport, repo, o.reference, o.signal);
  if (manifestKind(JSON.parse(fetched.bytes.toString('utf8')) as Record<string, unknown>, fetched.mediaType) === 'index') {
    const index = parseIndex(fetched.bytes, label);
    const labelsOf = async (entry: Descriptor): Promise<Record<string, string>> => {
      const m = parseManifest((await getManifest(transport, repo, entry.digest, o.signal)).bytes, `${label} ${entry.digest}`);
      const path = await cache.fetch(m.config, (offset) => openBlob(o, m.config.digest, offset), o.signal);
      return configLabels(parseConfig(await readFile(path), `${label} config`));
    };
    const entry = await choosePlatform(index, o.platform, labelsOf, label);
    fetched = await getManifest(transport, repo, entry.digest, o.signal);
  }
  return { fetched, label };
}

async function openBlob(o: PullOptions, digest: Digest, offset: number): ReturnType<BlobOpener> {
  const { res, ranged } = await getBlob(o.transport, o.repo, digest, offset, o.signal);
  // The socket's stream as it is when the transport went through node:http, else the web body.
  return { body: nodeBody(res) ?? res.body, ranged };
}

/**
 * Pulls an image into the store: config and layers stream into the blob cache, verified
 * against digest and size; blobs the store has are skipped; layers download in parallel.
 * An OCI manifest is stored byte for byte; a Docker schema2 one is rewritten as OCI.
 */
export async function pullImage(o: PullOptions): Promise<PullResult> {
  if (!o.force && o.store.findImage(o.target)) throw exists(o.target);
  // Decompressing, hashing and indexing the layers on a thread of their own overlaps the downloads.
  // The thread starts before the manifest is known, so that its start-up overlaps the round trips
  // (an idle thread does not keep the process up; a pull of layers the store has leaves it unused).
  const scans = createLayerScanThread();
  try {
    return await pullWith(o, scans);
  } finally {
    // Its scans are over (ended or aborted): the thread stops in the background, since waiting for
    // one still starting up would only delay the message of a pull that failed early.
    scans.close().catch((err: unknown) => (o.logger ?? silentLogger).debug(`layer scan thread: ${(err as Error).message}`));
  }
}

async function pullWith(o: PullOptions, scanThread: LayerScanThread): Promise<PullResult> {
  const { store } = o;
  const logger = o.logger ?? silentLogger;
  const cache = createBlobCache(store.dirs.cacheDir('registry-blobs'), { logger, ...(o.progress ? { progress: o.progress } : {}) });
  const { fetched, label } = await resolveImage(o, cache);
  const manifest = parseManifest(fetched.bytes, `${label} manifest`);
  for (const layer of manifest.layers) {
    if (layerCompression(layer.mediaType) === undefined) {
      throw new KilnError(ErrorCode.UNSUPPORTED, `${label}: layer ${layer.digest} has media type ${layer.mediaType}`, { hint: 'Kiln stores tar, tar+gzip and tar+zstd layers only' });
    }
  }
  const blobs = [manifest.config, ...manifest.layers].filter((d, i, all) => all.findIndex((x) => x.digest === d.digest) === i);
  const missing = blobs.filter((d) => !store.hasBlob(d.digest));
  const layerDigests = new Set(manifest.layers.map((l) => l.digest));
  const paths = new Map<Digest, string>();
  const scanned = new Map<Digest, LayerScanResult>();
  logger.debug(`${label}: ${missing.length} of ${blobs.length} blobs to fetch`);
  const staging = await store.createStaging(o.signal);
  const running = new Set<LayerScan>();
  const scans = missing.some((d) => layerDigests.has(d.digest)) ? scanThread : undefined;
  try {
    let seq = 0;
    await forEachLimited(missing, o.concurrency ?? 4, async (d) => {
      // A layer is decompressed, hashed and indexed while it downloads: no second pass over it.
      let scan: LayerScan | undefined;
      const observe = scans && layerDigests.has(d.digest)
        ? () => {
          scan = scans.start(d, join(staging.dir, `${digestHex(d.digest)}.${seq++}.index.db`));
          running.add(scan);
          return scan;
        }
        : undefined;
      paths.set(d.digest, await cache.fetch(d, (offset) => openBlob(o, d.digest, offset), o.signal, observe));
      // undefined when the cache already held the complete blob: then it is read again below.
      const done = scan as LayerScan | undefined;
      if (done) {
        running.delete(done);
        const downloaded = performance.now();
        scanned.set(d.digest, await done.end());
        // The scan thread should keep up with the network: this is what it adds to the clone's time.
        logger.debug(`layer ${d.digest}: scanned ${Math.round(performance.now() - downloaded)} ms after its download ended`);
      }
    });
    
    const configBytes = paths.has(manifest.config.digest) ? await readFile(paths.get(manifest.config.digest) as string) : await store.readManifestBytes(manifest.config.digest);
    const config = parseConfig(configBytes, `${label} config`);
    const ledger = new Map<Digest, DiffIdOutcome>();
    for (const [digest, r] of scanned) if (r.outcome) ledger.set(digest, r.outcome);
    // The same check as imports: diff_ids that do not match the layers make an image umoci refuses.
    await verifyDiffIds({
      what: label, config, layers: manifest.layers, ledger,
      open: (layer) => {
        const path = paths.get(layer.digest);
        return path === undefined ? store.openBlob(layer.digest, layer.size) : createReadStream(path);
      },
    });
    
    for (const d of missing) staging.staged.set(d.digest, { digest: d.digest, size: d.size, path: paths.get(d.digest) as string });
    const text = isOciManifest(manifest) ? fetched.bytes : renderManifest(manifest.config, manifest.layers, manifest.annotations);
    const staged = await staging.stageBytes(text);
    const record = await store.commitImage(staging, {
      ref: o.target, manifestDigest: staged.digest, manifestSize: staged.size, manifest: parseManifest(text, `${label} manifest`), config,
    }, { force: o.force === true });
    
    // The indexes join the store's cache once the image is in: its check then reads no layer.
    for (const layer of manifest.layers) {
      const file = scanned.get(layer.digest)?.indexFile;
      if (file === undefined) continue;
      await store.adoptLayerIndex(layer, file).catch((err: unknown) => logger.debug(`layer ${layer.digest}: index not kept (${(err as Error).message})`));
    }
    
    return { record, sourceDigest: fetched.digest, downloaded: missing.length, reused: blobs.length - missing.length };
  } finally {
    // Scans of a failed pull: their index files are closed before the staging area goes.
    for (const scan of running) await scan.abort();
    await staging.dispose();
  }
}
