import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/** The part of `fetch` the registry client uses; tests and special transports provide their own. */
export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/** What the registry client passes to a fetch; another fetch than {@link createNodeFetch} ignores `nodeBody`. */
export interface NodeFetchInit extends RequestInit {
  duplex?: 'half';
  /** The caller reads the body with {@link nodeBody} (a blob download): no web stream is made unless it is read. */
  nodeBody?: boolean;
}

/** Options of {@link createNodeFetch}. */
export interface NodeFetchOptions {
  /** Connect to this unix socket whatever the URL's host (the Docker Engine API). */
  socketPath?: string;
  /** false: accept any TLS certificate (protocol https-no-verify, for this transport only). */
  rejectUnauthorized?: boolean;
}

const MAX_REDIRECTS = 5;

const nodeBodies = new WeakMap<Response, Readable>();

/**
 * The body of a response made by {@link createNodeFetch} for a request with `nodeBody` (or by
 * {@link nodeResponse}) as the Node stream it is, without the web-stream adapters around it;
 * undefined for another response. Read a body through this or through `res.body`, not both.
 */
export function nodeBody(res: Response): Readable | undefined {
  return nodeBodies.get(res);
}

/**
 * A Response whose body is the Node stream `body`: {@link nodeBody} gives the stream itself, and
 * `res.body` (a web stream over it) starts reading it only when read, so a caller that takes the
 * Node stream pays nothing for the web one. A body nobody reads holds its connection: the caller
 * must read it or cancel it.
 */
export function nodeResponse(body: Readable | null, init: ResponseInit): Response {
  const res = new Response(body && lazyWebBody(body), init);
  if (body) nodeBodies.set(res, body);
  return res;
}

function lazyWebBody(source: Readable): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      reader ??= (Readable.toWeb(source) as ReadableStream<Uint8Array>).getReader();
      const next = await reader.read();
      if (next.done) c.close();
      else c.enqueue(next.value);
    },
    cancel: async (reason) => {
      if (reader) await reader.cancel(reason);
      else source.destroy();
    },
  }, { highWaterMark: 0 });
}

function toNodeHeaders(init: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function toWebHeaders(raw: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (value !== undefined) headers.set(key, value);
  }
  return headers;
}

function writeBody(req: http.ClientRequest, body: RequestInit['body']): void {
  if (body === undefined || body === null) req.end();
  else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
  else if (body instanceof ReadableStream) {
    const source = Readable.fromWeb(body as import('node:stream/web').ReadableStream);
    source.on('error', (err) => req.destroy(err));
    source.pipe(req);
  } else if (body instanceof Readable) {
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  } else throw new TypeError('unsupported request body type');
}

/**
 * A fetch over node:http/https, the one every registry exchange goes through: it does what the
 * built-in fetch cannot do without its undici dispatcher (a unix socket, TLS without certificate
 * verification for one registry) and gives a blob download as the socket's Node stream
 * ({@link nodeBody}). Follows redirects of GET/HEAD, dropping credentials when the host changes.
 */
export function createNodeFetch(options: NodeFetchOptions = {}): FetchLike {
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: options.rejectUnauthorized ?? true });
  const once = (url: URL, init: NodeFetchInit): Promise<Response> =>
    new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const method = (init.method ?? 'GET').toUpperCase();
      const req = (secure ? https : http).request(
        {
          method,
          hostname: url.hostname.replace(/^\[|\]$/gu, ''),
          port: url.port || (secure ? 443 : 80),
          path: `${url.pathname}${url.search}`,
          headers: toNodeHeaders(init.headers),
          agent: secure ? httpsAgent : httpAgent,
          ...(options.socketPath ? { socketPath: options.socketPath } : {}),
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const status = res.statusCode ?? 500;
          const empty = method === 'HEAD' || status === 204 || status === 304;
          if (empty) res.resume();
          const head = { status, statusText: res.statusMessage ?? '', headers: toWebHeaders(res.headers) };
          // Otherwise the web body starts reading at once, as fetch's does: a short body nobody reads
          // (an upload's 202) still ends, and its connection goes back to the pool.
          if (init.nodeBody) resolve(nodeResponse(empty ? null : res, head));
          else resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), head));
        },
      );
      req.on('error', (err) => {
        // A failed request leaves its body stream paused mid-pipe: close it (and the file under it).
        if (init.body instanceof Readable) init.body.destroy();
        // As fetch does: an aborted request fails with the signal's reason (a TimeoutError is worth a retry).
        reject(init.signal?.aborted ? init.signal.reason : err);
      });
      try {
        writeBody(req, init.body);
      } catch (err) {
        req.destroy();
        reject(err);
      }
    });
  return async (input, init = {}) => {
    let url = new URL(input);
    let current = init;
    for (let hop = 0; ; hop++) {
      const res = await once(url, current);
      const location = res.headers.get('location');
      const method = (current.method ?? 'GET').toUpperCase();
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || (method !== 'GET' && method !== 'HEAD') || hop >= MAX_REDIRECTS) return res;
      await res.body?.cancel();
      const next = new URL(location, url);
      if (next.host !== url.host) {
        const headers = new Headers(current.headers);
        headers.delete('authorization');
        current = { ...current, headers };
      }
      url = next;
    }
  };
}
