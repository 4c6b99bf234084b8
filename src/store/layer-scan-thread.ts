import { KilnError, ErrorCode, type Digest } from '../core/index.ts';
import type { DiffIdOutcome } from './import/diff-ids.ts';
import type { LayerScan, LayerScanResult } from './layer-scan.ts';
import type { Descriptor } from './oci.ts';

/** Messages to the worker (layer-scan-worker.ts). */
export type ScanRequest =
  | { type: 'start'; id: number; layer: Descriptor; indexFile: string }
  | { type: 'chunks'; id: number; data: ArrayBuffer[] }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

/** Messages from the worker. */
export type ScanReply =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'done'; id: number; indexFile: string | undefined; outcome: { compression: 'gzip' | 'zstd'; diffId: Digest } | { compression: 'gzip' | 'zstd'; error: string } | undefined }
  | { type: 'aborted'; id: number }
  | { type: 'failed'; id: number; message: string };

/** The scan thread's young generation (MB): a semi-space of 1 MB. */
const YOUNG_GENERATION_MB = 3;

/** Compressed bytes a scan may have sent and the worker not yet taken: bounds the memory a slow scan can hold. */
const IN_FLIGHT_LIMIT = 8 << 20;

/** Layer scans on a thread of their own, so that decompressing and indexing overlap the download. */
export interface LayerScanThread {
  /**
   * Like {@link startLayerScan}, run on the thread. `write` takes the chunks, in one message: one that
   * spans all of its ArrayBuffer is moved (transferred, the caller's view then empty), any other is copied.
   */
  start(layer: Descriptor, indexFile: string): LayerScan;
  /** Whether the thread failed or was closed: its scans then gave nothing (the layers are read again where needed). */
  readonly failed: Error | undefined;
  /** Stops the thread (scans still running fail). */
  close(): Promise<void>;
}

interface Pending {
  inFlight: number;
  wake: (() => void) | undefined;
  settle: ((reply: ScanReply) => void) | undefined;
  failure: Error | undefined;
}

/** Starts the worker thread; one is enough: the main thread downloads while it decompresses. */
export function createLayerScanThread(): LayerScanThread {
  // node:worker_threads loads with the first clone that scans, not when the store's door is imported (start-up).
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  // A small young generation: the thread's garbage is mostly the ArrayBuffers of the chunks it takes
  // and of zlib's output (hundreds of MiB per clone); frequent cheap scavenges free them before they
  // add up to the external memory that triggers a full mark-compact (five or six of those per clone
  // with the default size, one or two with this).
  const worker = new Worker(new URL('./layer-scan-worker.ts', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
  const scans = new Map<number, Pending>();
  let nextId = 0;
  let dead: Error | undefined;
  // An idle thread does not keep the process up.
  worker.unref();

  const failAll = (err: Error): void => {
    dead ??= err;
    for (const p of scans.values()) {
      p.failure ??= err;
      p.wake?.();
      p.settle?.({ type: 'failed', id: -1, message: err.message });
    }
  };
  worker.on('error', (err) => failAll(new KilnError(ErrorCode.IO, `layer scan thread failed: ${err.message}`, { cause: err })));
  worker.on('exit', () => failAll(new KilnError(ErrorCode.IO, 'layer scan thread stopped')));
  worker.on('message', (m: ScanReply) => {
    const p = scans.get(m.id);
    if (!p) return;
    if (m.type === 'ack') {
      p.inFlight -= m.bytes;
      if (p.inFlight <= IN_FLIGHT_LIMIT / 2 && p.wake) {
        const wake = p.wake;
        p.wake = undefined;
        wake();
      }
      return;
    }
    if (m.type === 'failed') {
      p.failure ??= new KilnError(ErrorCode.IO, `layer scan failed: ${m.message}`);
      p.wake?.();
    }
    p.settle?.(m);
  });

  /** Sends a request and waits for the worker's last word on the scan. */
  const finish = (id: number, p: Pending, request: ScanRequest): Promise<ScanReply> => {
    if (dead) {
      scans.delete(id);
      return Promise.resolve({ type: 'failed', id, message: dead.message });
    }
    return new Promise<ScanReply>((resolve) => {
      p.settle = resolve;
      worker.postMessage(request);
    }).finally(() => {
      scans.delete(id);
      if (scans.size === 0) worker.unref();
    });
  };

  return {
    get failed() {
      return dead;
    },
    start(layer, indexFile) {
      const id = nextId++;
      const p: Pending = { inFlight: 0, wake: undefined, settle: undefined, failure: undefined };
      scans.set(id, p);
      // While a scan runs, the thread keeps the process up: a download waiting for it may be all there is.
      worker.ref();
      if (!dead) worker.postMessage({ type: 'start', id, layer: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, indexFile } satisfies ScanRequest);
      let over = false;
      return {
        write(chunks) {
          // A failed scan costs the second pass it was to save (the diff_id check and the check read the layer), not the download.
          if (p.failure || dead || chunks.length === 0) return undefined;
          const data: ArrayBuffer[] = [];
          for (const chunk of chunks) {
            // A chunk that is all of its memory moves to the thread; a view into a larger (possibly shared) buffer is copied.
            let buffer = chunk.buffer as ArrayBuffer;
            if (chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || !(buffer instanceof ArrayBuffer) || data.includes(buffer)) {
              const copy = new Uint8Array(chunk.byteLength);
              copy.set(chunk);
              buffer = copy.buffer;
            }
            p.inFlight += buffer.byteLength;
            data.push(buffer);
          }
          worker.postMessage({ type: 'chunks', id, data } satisfies ScanRequest, data);
          if (p.inFlight <= IN_FLIGHT_LIMIT) return undefined;
          return new Promise<void>((resolve) => {
            p.wake = resolve;
          });
        },
        async end(): Promise<LayerScanResult> {
          over = true;
          const m = await finish(id, p, { type: 'end', id });
          if (m.type !== 'done') return { outcome: undefined, indexFile: undefined };
          const o = m.outcome;
          const outcome: DiffIdOutcome | undefined = o === undefined ? undefined : 'error' in o ? { compression: o.compression, error: new Error(o.error) } : o;
          return { outcome, indexFile: m.indexFile };
        },
        async abort() {
          if (over) return;
          over = true;
          await finish(id, p, { type: 'abort', id });
        },
      };
    },
    async close() {
      if (!dead) dead = new KilnError(ErrorCode.IO, 'layer scan thread closed');
      await worker.terminate();
    },
  };
}
