import { Readable, Transform, pipeline } from 'node:stream';
import { nodeBody, nodeResponse, type FetchLike, type NodeFetchInit } from './node-fetch.ts';

/** What a stalled exchange was waiting for when it gave up. */
export type StallPhase = 'answer' | 'upload' | 'download';

/** The default of network_idle_timeout: a minute without a byte. */
export const DEFAULT_IDLE_TIMEOUT = 60_000;

const NO_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * Runs one fetch under an idle timeout: the exchange fails with `stalled(phase)` as soon as
 * `idleMs` pass without progress: no answer (connection and headers), the server not taking
 * the request body, or no byte of the response body while the reader waits for one. The time
 * the reader spends elsewhere (writing to disk) does not count. The fetch is aborted, so the
 * socket is released. The clock restarts on every chunk, so a slow but moving transfer is fine.
 */
export async function fetchWithIdleTimeout(
  doFetch: FetchLike,
  url: string,
  init: NodeFetchInit,
  idleMs: number,
  stalled: (phase: StallPhase) => Error,
): Promise<Response> {
  const controller = new AbortController();
  /** Fails a Node body first, so that its reader sees the stall rather than the abort it causes. */
  let stopBody: ((err: Error) => void) | undefined;
  const clock = idleClock(idleMs, (phase) => {
    const err = stalled(phase);
    stopBody?.(err);
    controller.abort(err);
    return err;
  });
  const signal = init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
  const source: unknown = init.body;
  const body = source instanceof ReadableStream ? watchUpload(source as ReadableStream<Uint8Array>, clock)
    : source instanceof Readable ? watchNodeUpload(source, clock) as unknown as RequestInit['body'] : init.body;
  clock.arm('answer');
  let res: Response;
  try {
    res = await Promise.race([doFetch(url, { ...init, body, signal } as RequestInit), clock.stall]);
  } finally {
    clock.disarm();
  }
  if (!res.body || NO_BODY_STATUSES.has(res.status)) return res;
  const node = nodeBody(res);
  if (node) {
    stopBody = (err) => node.destroy(err);
    watchNodeDownload(node, clock);
    return nodeResponse(node, { status: res.status, statusText: res.statusText, headers: res.headers });
  }
  return new Response(watchDownload(res.body, clock), { status: res.status, statusText: res.statusText, headers: res.headers });
}

interface IdleClock {
  /** Starts (or restarts) counting: the network owes us progress of this kind. */
  arm(phase: StallPhase): void;
  /** Stops counting: the wait is on our side. */
  disarm(): void;
  /** Rejects with the stall error when the clock runs out. */
  readonly stall: Promise<never>;
  readonly error: Error | undefined;
}

/**
 * One timer per exchange, re-armed per chunk without allocating: arming only notes the time,
 * and the timer, when it fires early, sleeps for the rest of the period.
 */
function idleClock(idleMs: number, onStall: (phase: StallPhase) => Error): IdleClock {
  let since = 0;
  let phase: StallPhase | undefined;
  let timer: NodeJS.Timeout | undefined;
  let error: Error | undefined;
  let reject: (err: Error) => void = () => {};
  const stall = new Promise<never>((_, r) => {
    reject = r;
  });
  stall.catch(() => undefined); // observed through races and stream errors
  const check = (): void => {
    timer = undefined;
    if (phase === undefined || error) return;
    const left = since + idleMs - performance.now();
    if (left > 0) {
      timer = setTimeout(check, left);
      timer.unref();
      return;
    }
    error = onStall(phase);
    reject(error);
  };
  return {
    arm: (p) => {
      phase = p;
      since = performance.now();
      if (timer === undefined && !error) {
        timer = setTimeout(check, idleMs);
        // A response nobody reads must not keep the process alive.
        timer.unref();
      }
    },
    disarm: () => {
      phase = undefined;
    },
    stall,
    get error() {
      return error;
    },
  };
}

/** A request body that arms the idle clock whenever a chunk waits for the network to take it. */
function watchUpload(source: ReadableStream<Uint8Array>, clock: IdleClock): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      clock.disarm(); // reading the source (a file) is not the network's time
      const { done, value } = await reader.read();
      if (done) {
        c.close();
        clock.arm('answer');
      } else {
        c.enqueue(value);
        clock.arm('upload');
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** The same for a Node stream (a fetch over node:http pipes it into the socket). */
function watchNodeUpload(source: Readable, clock: IdleClock): Readable {
  const watched = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      // Each chunk handed on waits for the socket: the network owes progress until the next one.
      clock.arm('upload');
      done(null, chunk);
    },
    flush(done) {
      clock.arm('answer');
      done();
    },
  });
  // pipeline, not pipe: when the request fails and destroys `watched`, the file stream is destroyed (closed) too.
  pipeline(source, watched, () => undefined);
  clock.stall.catch((err: unknown) => watched.destroy(err as Error));
  return watched;
}

/** A response body that arms the idle clock only while it waits for the network's next chunk. */
function watchDownload(source: ReadableStream<Uint8Array>, clock: IdleClock): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    start(c) {
      // Fails a reader that is waiting right now, whatever the source does once aborted.
      clock.stall.catch((err: unknown) => c.error(err));
    },
    async pull(c) {
      clock.arm('download');
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } finally {
        clock.disarm();
      }
      if (clock.error) return;
      if (chunk.done) c.close();
      else c.enqueue(chunk.value);
    },
    cancel: async (reason) => {
      clock.disarm();
      await reader.cancel(reason);
    },
  });
}

/**
 * The same for a Node body (an http.IncomingMessage), whatever way it is read: the network owes
 * the next chunk while the stream's buffer is below its high-water mark (the stream asked for
 * more with `_read`, or `push` said it takes more), not once the buffer is full because the
 * reader is busy elsewhere, nor after the end. Wrapping the instance's own `push` and `_read`
 * adds no stream hop and no allocation per chunk.
 */
function watchNodeDownload(source: Readable, clock: IdleClock): void {
  const push = source.push;
  source.push = function watchedPush(this: Readable, chunk: unknown, encoding?: BufferEncoding): boolean {
    const more = push.call(this, chunk, encoding);
    if (more && chunk !== null) clock.arm('download');
    else clock.disarm();
    return more;
  };
  const read = source._read;
  source._read = function watchedRead(this: Readable, size: number): void {
    clock.arm('download');
    read.call(this, size);
  };
  source.once('close', () => clock.disarm());
  clock.arm('download');
}
