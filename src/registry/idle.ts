import type { FetchLike } from './node-fetch.ts';

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
  init: RequestInit & { duplex?: 'half' },
  idleMs: number,
  stalled: (phase: StallPhase) => Error,
): Promise<Response> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let rejectStall: (err: Error) => void = () => {};
  const stall = new Promise<never>((_, reject) => {
    rejectStall = reject;
  });
  stall.catch(() => undefined); // observed through the races below
  const disarm = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const arm = (phase: StallPhase): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const err = stalled(phase);
      rejectStall(err);
      controller.abort(err);
    }, idleMs);
    // A response nobody reads must not keep the process alive.
    timer.unref();
  };
  const signal = init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
  const body = init.body instanceof ReadableStream ? watchUpload(init.body as ReadableStream<Uint8Array>, arm, disarm) : init.body;
  arm('answer');
  let res: Response;
  try {
    res = await Promise.race([doFetch(url, { ...init, body, signal } as RequestInit), stall]);
  } finally {
    disarm();
  }
  if (!res.body || NO_BODY_STATUSES.has(res.status)) return res;
  return new Response(watchDownload(res.body, arm, disarm, stall), { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** A request body that arms the idle clock whenever a chunk waits for the network to take it. */
function watchUpload(source: ReadableStream<Uint8Array>, arm: (p: StallPhase) => void, disarm: () => void): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      disarm(); // reading the source (a file) is not the network's time
      const { done, value } = await reader.read();
      if (done) {
        c.close();
        arm('answer');
      } else {
        c.enqueue(value);
        arm('upload');
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** A response body that arms the idle clock only while its reader waits for the next chunk. */
function watchDownload(source: ReadableStream<Uint8Array>, arm: (p: StallPhase) => void, disarm: () => void, stall: Promise<never>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      arm('download');
      try {
        const { done, value } = await Promise.race([reader.read(), stall]);
        if (done) c.close();
        else c.enqueue(value);
      } finally {
        disarm();
      }
    },
    cancel: async (reason) => {
      disarm();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
