import { Readable, Transform, type TransformCallback } from 'node:stream';
import { KilnError, ErrorCode, type Digest } from '../core/index.ts';
import type { Staging } from './blobs.ts';
import type { Store } from './store.ts';

/**
 * How an operation fails:
 * - `io`: the call fails with IO (a full disk), before the inner store is touched;
 * - `conflict`: the call fails with CONFLICT (another process changed the store), before the inner store is touched;
 * - `mid-stream`: a blob stream gives the first half of its bytes, then fails with IO;
 * - `digest-mismatch`: a blob stream gives altered bytes and fails with DIGEST_MISMATCH at its end;
 *   a staging area's `stage` (and `addBlob`) read their source whole, then fail with DIGEST_MISMATCH.
 * A stream fault on an operation that gives no stream fails the call with IO.
 */
export type StoreFault = 'io' | 'conflict' | 'mid-stream' | 'digest-mismatch';

/** The operations a broken store can break. */
export type BreakableOperation = Exclude<keyof Store, 'layout' | 'dirs' | 'layerSource' | 'nodes' | 'close'>;

/** Which operations fail, and how. */
export interface BrokenStoreOptions {
  failOn: Partial<Record<BreakableOperation, StoreFault>>;
}

const STREAMS = new Set<BreakableOperation>(['openBlob', 'openBlobRange']);
const SYNC = new Set<BreakableOperation>([
  'listImages', 'findImage', 'getImage', 'blobSize', 'hasBlob', 'holdBlobs', 'duplicate', 'rename', 'imagesInUse', 'openBlob', 'openBlobRange',
]);

/** The error of a fault that fails a call outright. */
function faultError(fault: StoreFault, operation: string): KilnError {
  switch (fault) {
    case 'conflict':
      return new KilnError(ErrorCode.CONFLICT, `${operation}: another kiln process changed the store at the same time`);
    case 'digest-mismatch':
      return new KilnError(ErrorCode.DIGEST_MISMATCH, `${operation}: content digest does not match`);
    default: {
      const cause = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
      return new KilnError(ErrorCode.IO, `${operation}: no space left on device`, { cause });
    }
  }
}

/**
 * Passes `keep` bytes through, then fails the stream (mid-stream) or alters the last byte and
 * fails at the end (digest-mismatch). The error comes a turn after the last bytes given, so
 * that the reader has them, as from a disk that fails on the next read.
 */
function breakingStream(fault: StoreFault, digest: Digest, keep: number): Transform {
  let seen = 0;
  const later = (done: TransformCallback, err: Error): void => void setImmediate(() => done(err));
  const ioError = (): KilnError => new KilnError(ErrorCode.IO, `blob ${digest} cannot be read: input/output error after ${Math.min(seen, keep)} bytes`);
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      if (fault === 'mid-stream') {
        if (seen >= keep) return later(done, ioError());
        const part = chunk.subarray(0, keep - seen);
        seen += chunk.length;
        done(null, part);
        return;
      }
      const copy = Buffer.from(chunk);
      if (copy.length > 0) copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0xff;
      done(null, copy);
    },
    flush(done: TransformCallback) {
      // A mid-stream fault with a short blob still fails: at its end.
      later(done, fault === 'digest-mismatch' ? new KilnError(ErrorCode.DIGEST_MISMATCH, `blob ${digest}: content digest does not match`) : ioError());
    },
  });
}

/** A source that is read whole, then fails with DIGEST_MISMATCH (what a staging area does with content that is not what it should be). */
function mismatchingSource(source: Readable | AsyncIterable<Uint8Array>, what: string): Readable {
  return Readable.from((async function* () {
    for await (const chunk of source) yield chunk;
    throw faultError('digest-mismatch', what);
  })());
}

/**
 * A Store that fails the chosen operations with the errors a real store gives (a full disk,
 * a concurrent writer, a blob that breaks while it streams or does not hash to its name),
 * and passes everything else to `inner`. For testing that callers report coded errors and
 * leave the store as it was. The layer source's `openLayer` breaks with `openBlob`.
 */
export function createBrokenStore(inner: Store, options: BrokenStoreOptions): Store {
  const { failOn } = options;
  /** Staging areas handed out wrapped, by wrapper: the inner store commits only its own. */
  const unwrapped = new WeakMap<Staging, Staging>();
  const broken = Object.create(null) as Record<string, unknown>;
  const methods = Object.keys(failOn) as BreakableOperation[];
  for (const operation of methods) {
    const fault = failOn[operation] as StoreFault;
    if (STREAMS.has(operation) && (fault === 'mid-stream' || fault === 'digest-mismatch')) {
      broken[operation] = (digest: Digest, arg?: unknown): Readable => {
        const source = (inner[operation] as (d: Digest, a?: unknown) => Readable)(digest, arg);
        const size = operation === 'openBlobRange' ? ((arg as { end: number; start: number }).end - (arg as { start: number }).start + 1) : (inner.blobSize(digest) ?? 0);
        return source.pipe(breakingStream(fault, digest, Math.floor(size / 2)));
      };
    } else if (operation === 'createStaging' && fault === 'digest-mismatch') {
      broken[operation] = async (...args: Parameters<Store['createStaging']>): Promise<Staging> => {
        const staging = await inner.createStaging(...args);
        const wrapped: Staging = {
          get dir() {
            return staging.dir;
          },
          staged: staging.staged,
          stage: (source, expected, extra) => staging.stage(mismatchingSource(source, 'staging'), expected, extra),
          stageBytes: (bytes) => staging.stageBytes(bytes),
          publish: (layout, digests, added) => staging.publish(layout, digests, added),
          dispose: () => staging.dispose(),
        };
        unwrapped.set(wrapped, staging);
        return wrapped;
      };
    } else if (operation === 'addBlob' && fault === 'digest-mismatch') {
      broken[operation] = (...[source, hold, o]: Parameters<Store['addBlob']>) => inner.addBlob(mismatchingSource(source, 'adding a blob'), hold, o);
    } else if (SYNC.has(operation)) {
      broken[operation] = () => {
        throw faultError(fault, operation);
      };
    } else {
      broken[operation] = async () => {
        throw faultError(fault, operation);
      };
    }
  }
  const store: Store = {
    get layout() {
      return inner.layout;
    },
    get dirs() {
      return inner.dirs;
    },
    layerSource: {
      blobFile: (layer) => inner.layerSource.blobFile(layer),
      openLayer: (layer) => store.openBlob(layer.digest, layer.size),
    },
    listImages: () => inner.listImages(),
    findImage: (ref) => inner.findImage(ref),
    getImage: (ref) => inner.getImage(ref),
    readManifest: (digest) => inner.readManifest(digest),
    readManifestBytes: (digest) => inner.readManifestBytes(digest),
    readConfig: (manifest) => inner.readConfig(manifest),
    readTree: (manifest) => inner.readTree(manifest),
    adoptLayerIndex: (layer, file) => inner.adoptLayerIndex(layer, file),
    openBlob: (digest, size) => inner.openBlob(digest, size),
    openBlobRange: (digest, range) => inner.openBlobRange(digest, range),
    blobSize: (digest) => inner.blobSize(digest),
    hasBlob: (digest) => inner.hasBlob(digest),
    holdBlobs: () => inner.holdBlobs(),
    addBlob: (source, hold, o) => inner.addBlob(source, hold, o),
    createStaging: (signal, progress) => inner.createStaging(signal, progress),
    commitImage: (staging, image, o) => inner.commitImage(unwrapped.get(staging) ?? staging, image, o),
    duplicate: (source, target, o) => inner.duplicate(source, target, o),
    rename: (source, target, o) => inner.rename(source, target, o),
    remove: (refs) => inner.remove(refs),
    imagesInUse: () => inner.imagesInUse(),
    get nodes() {
      return inner.nodes;
    },
    verify: () => inner.verify(),
    gc: () => inner.gc(),
    close: () => inner.close(),
  };
  Object.assign(store, broken);
  return store;
}
