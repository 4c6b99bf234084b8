import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError, ErrorCode, assertContent, digestHex, isErrno, isProcessAlive, isStaleWork, leases, silentProgress, type Digest, type Logger, type Progress } from '../core/index.ts';

/**
 * Where pulled blobs land before they join the store: the store's `registry-blobs` directory.
 * A blob downloads to `<hex>.partial.<pid>`; once its digest and size check out it is
 * renamed to `<hex>`. A pull killed halfway leaves both kinds behind: the next pull uses
 * the complete ones as they are and resumes a dead process's partial file with a Range
 * request. Committing an image moves the complete files into the store (a rename).
 */
export interface BlobCache {
  readonly dir: string;
  /** The verified file of a blob, downloading (or resuming) it when needed. */
  fetch(blob: { digest: Digest; size: number }, open: BlobOpener, signal?: AbortSignal, observe?: () => BlobObserver): Promise<string>;
}

/**
 * Sees a blob's bytes as they are written, in order from byte 0 (a resumed download's
 * earlier bytes included). One observer per attempt: when an attempt fails, it is aborted.
 * Chunks are handed over: the observer may keep their memory (move it to another thread); the caller does not touch them again.
 */
export interface BlobObserver {
  write(chunks: readonly Uint8Array[]): Promise<void> | undefined;
  abort(): Promise<void>;
}

/**
 * Opens a blob's bytes from `offset` on; `ranged` false means the source restarted at 0.
 * The body is best a Node stream (a download over node:http): a web stream costs adapters.
 */
export type BlobOpener = (offset: number) => Promise<{ body: Readable | ReadableStream<Uint8Array> | null; ranged: boolean }>;


async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

const ATTEMPTS = 3;
/** Bytes a download may hold in memory while its previous batch is written, before the socket is paused. */
const SINK_BUFFER = 4 << 20;

/** Opens the blob cache in `dir` (on the store's filesystem, so that its files join the store by a rename). */
export function createBlobCache(dir: string, options: { logger: Logger; progress?: Progress }): BlobCache {
  const { logger } = options;
  const progress = options.progress ?? silentProgress;

  /** Takes over the largest partial file a dead process left for this blob; removes the others. */
  const claimPartial = async (hex: string, mine: string): Promise<void> => {
    const names = (await readdir(dir)).filter((n) => n.startsWith(`${hex}.partial.`));
    let best: { name: string; size: number } | undefined;
    for (const name of names) {
      const pid = Number(name.slice(hex.length + '.partial.'.length));
      if (!Number.isInteger(pid) || pid === process.pid || isProcessAlive(pid)) continue;
      const size = (await sizeOf(join(dir, name))) ?? 0;
      if (!best || size > best.size) {
        if (best) await rm(join(dir, best.name), { force: true });
        best = { name, size };
      } else await rm(join(dir, name), { force: true });
    }
    if (best) {
      await rename(join(dir, best.name), mine).catch((err: unknown) => {
        if (!isErrno(err, 'ENOENT')) throw err; // another process claimed it first
      });
    }
  };

  return {
    dir,
    fetch: async (blob, openBlob, signal, observe) => {
      await mkdir(dir, { recursive: true });
      const hex = digestHex(blob.digest);
      const done = join(dir, hex);
      if ((await sizeOf(done)) === blob.size) return done;
      const partial = join(dir, `${hex}.partial.${process.pid}`);
      await claimPartial(hex, partial);
      const task = progress.start(blob.digest.slice(7, 19), blob.size);
      // While this process downloads, the partial file's lease stays fresh (see core's lease.ts).
      leases.hold(partial);
      try {
        for (let attempt = 1; ; attempt++) {
          let offset = (await sizeOf(partial)) ?? 0;
          if (offset > blob.size) offset = 0;
          const hash = createHash('sha256');
          let observer = observe?.();
          try {
            if (offset > 0) {
              // Hash (and show) what is already there, then continue with the rest of the bytes.
              for await (const chunk of createReadStream(partial, { end: offset - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
                hash.update(chunk);
                await observer?.write([chunk]);
              }
            }
            const { body, ranged } = await openBlob(offset);
            if (offset > 0 && ranged) logger.debug(`resuming blob ${blob.digest} at ${offset} of ${blob.size} bytes`);
            const start = offset > 0 && ranged ? offset : 0;
            // Without the range, the source restarted at 0: hash and write from scratch.
            const fresh = start === 0 ? createHash('sha256') : hash;
            if (start === 0 && offset > 0 && observer) {
              await observer.abort();
              observer = observe?.();
            }
            const source = body === null ? Readable.from([]) : body instanceof Readable ? body : Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
            let size = start;
            task.add(start);
            // An unread body would hold its connection: it goes when the file cannot be opened.
            const out = await open(partial, start === 0 ? 'w' : 'a', 0o644).catch((err: unknown) => {
              source.destroy();
              throw err;
            });
            /** Chunks as they came, several at a time: one hash pass, one writev and one hand-over per batch. */
            const take = async (chunks: Buffer[]): Promise<void> => {
              let n = 0;
              for (const chunk of chunks) {
                fresh.update(chunk);
                n += chunk.length;
              }
              const { bytesWritten } = await out.writev(chunks);
              if (bytesWritten !== n) throw new KilnError(ErrorCode.IO, `${partial}: wrote ${bytesWritten} of ${n} bytes`);
              size += n;
              task.add(n);
              // Written: the observer (decompressing, indexing on another thread) may now take the memory.
              await observer?.write(chunks);
            };
            // The chunks that arrive while a batch is being written wait in the sink's buffer and
            // make the next batch: the batches grow with the disk's latency, without copying.
            const sink = new Writable({
              highWaterMark: SINK_BUFFER,
              writev: (entries, done) => void take(entries.map((e) => e.chunk as Buffer)).then(() => done(), done),
              write: (chunk: Buffer, _encoding, done) => void take([chunk]).then(() => done(), done),
              final: (done) => void out.sync().then(() => done(), done),
            });
            try {
              await pipeline(source, sink, ...(signal ? [{ signal }] : []));
            } finally {
              await out.close();
            }
            try {
              assertContent(`blob ${blob.digest}`, blob, { digest: `sha256:${fresh.digest('hex')}`, size });
            } catch (err) {
              await rm(partial, { force: true });
              throw err;
            }
            await rename(partial, done);
            observer = undefined;
            return done;
          } catch (err) {
            await observer?.abort();
            if (signal?.aborted) throw signal.reason;
            if (!isInterruption(err)) throw err;
            if (attempt >= ATTEMPTS) {
              throw new KilnError(ErrorCode.NETWORK, `blob ${blob.digest}: the connection dropped ${ATTEMPTS} times during the download (${(err as Error).message})`, {
                cause: err, hint: 'run the command again: the download resumes where it stopped; check the registry and the network if it keeps dropping',
              });
            }
            logger.debug(`blob ${blob.digest}: transfer interrupted (${(err as Error).message}); resuming`);
          }
        }
      } finally {
        leases.release(partial);
        task.done();
      }
    },
  };
}

/**
 * Cleans the blob cache for `kiln store gc`: partial files of processes that no longer
 * run or whose lease expired, and complete blobs the store already holds (a pull that died after committing).
 * Complete blobs the store lacks stay, so that the pull can be run again without
 * downloading them. Returns how many files went.
 */
export async function pruneBlobCache(dir: string, inStore: (digest: Digest) => boolean): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const partial = /^([a-f0-9]{64})\.partial\.(\d+)$/u.exec(name);
    const stale = partial ? await isStaleWork(join(dir, name), Number(partial[2])) : /^[a-f0-9]{64}$/u.test(name) && inStore(`sha256:${name}`);
    if (stale) {
      await rm(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

/** A dropped connection mid-body (worth resuming), as opposed to a refusal or a mismatch. */
function isInterruption(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? ((err as Error | undefined)?.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'EPIPE' || code === 'UND_ERR_BODY_TIMEOUT';
}
