import { availableParallelism } from 'node:os';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { BlockBytes } from './squashfs-packs.ts';

/** What every thread of a compressor is given at start. */
export interface CompressorSettings {
  /** gzip (zlib) level, 1-9. */
  level: number;
}

/** A request to a thread: a raw block whose memory moved there. */
export interface CompressRequest {
  id: number;
  raw: ArrayBuffer;
  length: number;
}

/** A thread's answer: the block's memory moved back, holding the bytes to store, or why not. */
export type CompressReply =
  | { id: number; bytes: ArrayBuffer; length: number; raw: boolean }
  | { id: number; error: string };

/** Deflates SquashFS blocks in parallel. */
export interface BlockCompressor {
  /**
   * The bytes to store for the first `length` bytes of `block`. All of the block's memory
   * moves to a thread (the caller's view empties) and comes back holding the result, in
   * place of the raw bytes (deflated when that is smaller): the caller may reuse it once it has copied them.
   */
  compress(block: Buffer, length: number): Promise<BlockBytes>;
  /** Stops the threads; requests still waiting fail. */
  close(): Promise<void>;
}

/**
 * Starts `threads` compressor threads (default: one per core), each deflating whole blocks
 * with zlib's blocking call: no zlib stream per block on the main thread (their native
 * memory made most of its garbage collection), and the libuv pool stays free for reading layers.
 */
export function createBlockCompressor(settings: CompressorSettings, threads = availableParallelism()): BlockCompressor {
  // node:worker_threads loads with the first SquashFS export, not at start-up.
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  const waiting = new Map<number, { resolve: (b: BlockBytes) => void; reject: (err: Error) => void; thread: number }>();
  const load: number[] = [];
  let dead: Error | undefined;
  let nextId = 0;

  const fail = (err: Error): void => {
    dead ??= err;
    for (const w of waiting.values()) w.reject(dead);
    waiting.clear();
  };
  const workers = Array.from({ length: Math.max(1, threads) }, (_, thread) => {
    load.push(0);
    const worker = new Worker(new URL('./block-compressor-worker.ts', import.meta.url), { workerData: settings satisfies CompressorSettings });
    worker.on('message', (m: CompressReply) => {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      load[thread] = (load[thread] ?? 1) - 1;
      if ('error' in m) w.reject(new KilnError(ErrorCode.IO, `SquashFS block compression failed: ${m.error}`));
      else w.resolve({ bytes: Buffer.from(m.bytes, 0, m.length), raw: m.raw });
    });
    worker.on('error', (err) => fail(new KilnError(ErrorCode.IO, `SquashFS compressor thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', () => fail(new KilnError(ErrorCode.IO, 'SquashFS compressor thread stopped')));
    return worker;
  });

  return {
    compress(block, length) {
      if (dead) return Promise.reject(dead);
      let memory = block.buffer as ArrayBuffer;
      // A view into larger (or shared) memory is copied: moving it would empty its neighbours too.
      if (block.byteOffset !== 0 || block.byteLength !== memory.byteLength || !(memory instanceof ArrayBuffer)) {
        const own = Buffer.allocUnsafeSlow(length);
        block.copy(own, 0, 0, length);
        memory = own.buffer as ArrayBuffer;
      }
      // The least busy thread: blocks differ in cost (text deflates slower than code, noise fastest).
      let thread = 0;
      for (let i = 1; i < load.length; i++) if ((load[i] as number) < (load[thread] as number)) thread = i;
      load[thread] = (load[thread] as number) + 1;
      const id = nextId++;
      return new Promise<BlockBytes>((resolve, reject) => {
        waiting.set(id, { resolve, reject, thread });
        workers[thread]?.postMessage({ id, raw: memory, length } satisfies CompressRequest, [memory]);
      });
    },
    async close() {
      fail(new KilnError(ErrorCode.IO, 'SquashFS compressor closed'));
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
