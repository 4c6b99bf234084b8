import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parseImageRef } from '../store/index.ts';
import { etagMatches, parseRange, plainParts } from './paths.ts';
import type { StoreResolver } from './resolver.ts';
import { isBootFile, type BootFile, type BootLogger, type BootMiss, type BootRequestLog } from './types.ts';

/** How to run the HTTP boot server. */
export interface HttpBootOptions {
  address: string;
  port: number;
  resolver: StoreResolver;
  log: BootLogger;
  /** Most files sent at once; further requests wait their turn (default 256). */
  maxStreams?: number;
  /** A connection on which nothing moves (no request bytes read, no body bytes taken) for this long is closed (default 60 s). */
  idleTimeoutMs?: number;
  /** Most connections open at once; beyond, new ones are refused (default 4096). */
  maxConnections?: number;
  /** The requesting node's identity script (`/kiln/identity.sh`), by client address; absent: 404. */
  identity?: (client: string) => Promise<BootFile | BootMiss>;
}

/** A running HTTP boot server. */
export interface HttpBootServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

type Lookup = (client: string, match: RegExpExecArray) => Promise<BootFile | BootMiss>;

/** What answers a miss: the one place reasons become statuses. */
const STATUS: Record<BootMiss['reason'], number> = { 'not-found': 404, 'unknown-client': 404, forbidden: 403, 'not-ready': 503 };

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}

const refused: BootMiss = { reason: 'forbidden', detail: 'malformed path' };

/** Creates the HTTP boot server over a resolver. */
export function createHttpBootServer(options: HttpBootOptions): HttpBootServer {
  const { resolver, log } = options;
  // The route table: every URL the server answers, on one screen (matchbox style).
  const routes: Array<{ pattern: RegExp; lookup: Lookup }> = [
    // A node's own files: /boot/<path> → [image]/boot/<model>/<path>, or its image's boot artifacts.
    { pattern: /^\/boot\/(.+)$/u, lookup: (client, m) => {
      const path = decode(m[1] as string);
      return path === undefined ? Promise.resolve(refused) : resolver.resolve({ address: client }, path);
    } },
    // Any image's boot artifacts by name: /images/<user>/<name>/<tag>/<file>.
    { pattern: /^\/images\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/u, lookup: async (_client, m) => {
      const parts = plainParts(m.slice(1).map((p) => decode(p) ?? '..').join('/'));
      if (!parts || parts.length !== 4) return refused;
      const [user, name, tag, file] = parts as [string, string, string, string];
      return resolver.artifact(parseImageRef(`${user}/${name}:${tag}`, user, { allowReserved: true }), file);
    } },
    // The asking node's identity (host keys, machine-id, hostname...), as a script its init runs: known nodes only.
    { pattern: /^\/kiln\/identity\.sh$/u, lookup: (client) => options.identity?.(client) ?? Promise.resolve({ reason: 'not-found', detail: 'no identity service' }) },
  ];

  // Bounded concurrency: at most maxStreams bodies are sent at once; the others queue.
  const maxStreams = options.maxStreams ?? 256;
  let active = 0;
  const waiting: Array<() => void> = [];
  const acquire = async (): Promise<void> => {
    if (active < maxStreams) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const client = req.socket.remoteAddress ?? '';
    const url = (req.url ?? '/').split('?')[0] as string;
    const entry: BootRequestLog = { protocol: 'http', client, path: url, bytes: 0, ms: 0, result: 'ok' };
    const finish = (result: BootRequestLog['result']): void => {
      entry.result = result;
      entry.ms = Math.round(performance.now() - started);
      log(entry);
    };
    const fail = (status: number, result: BootRequestLog['result'], detail: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(detail) + 1 });
      res.end(req.method === 'HEAD' ? undefined : `${detail}\n`);
      finish(result);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      fail(405, 'forbidden', `${req.method ?? ''} is not served`);
      return;
    }
    let answer: BootFile | BootMiss = { reason: 'not-found', detail: `no route for ${url}` };
    for (const route of routes) {
      const match = route.pattern.exec(url);
      if (match) {
        answer = await route.lookup(client, match);
        break;
      }
    }
    if (!isBootFile(answer)) {
      fail(STATUS[answer.reason], answer.reason, answer.detail);
      return;
    }
    if (answer.node) entry.node = answer.node;
    entry.served = answer.served;
    const headers: Record<string, string | number> = { etag: answer.etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', 'cache-control': 'no-cache' };
    if (etagMatches(req.headers['if-none-match'], answer.etag)) {
      res.writeHead(304, headers);
      res.end();
      finish('ok');
      return;
    }
    const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, answer.size);
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${answer.size}` });
      res.end();
      finish('not-found');
      return;
    }
    const span = range.kind === 'range' ? { start: range.start, end: range.end } : undefined;
    const length = span ? span.end - span.start + 1 : answer.size;
    res.writeHead(span ? 206 : 200, { ...headers, 'content-length': length, ...(span ? { 'content-range': `bytes ${span.start}-${span.end}/${answer.size}` } : {}) });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      finish('ok');
      return;
    }
    // Waiting for a slot is not idling: the idle clock runs only while this request's body moves.
    req.socket.setTimeout(0);
    await acquire();
    req.socket.setTimeout(server.timeout);
    try {
      const body = answer.open(span);
      body.on('data', (chunk: Buffer) => {
        entry.bytes += chunk.length;
      });
      await pipeline(body, res);
      finish('ok');
    } catch (err) {
      // A client that closes as soon as it has the last byte ends the pipeline early: the
      // whole body was handed to the socket, so that is a success, not an error.
      const early = (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
      finish(entry.bytes >= length && early ? 'ok' : res.destroyed && entry.bytes < length ? 'aborted' : 'error');
      if (!res.destroyed) res.destroy(err as Error);
    } finally {
      release();
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const detail = err instanceof Error ? err.message : String(err);
      log({ protocol: 'http', client: req.socket.remoteAddress ?? '', path: req.url ?? '', bytes: 0, ms: 0, result: 'error' });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${detail}\n`);
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  // busybox nc (walt-init's HTTP client) half-closes the connection once it has sent the request:
  // answer it anyway (by default Node's HTTP layer drops a request whose client half-closed).
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // A node that stops reading must not hold a body slot forever: one slow client never delays the others for long.
  server.timeout = options.idleTimeoutMs ?? 60_000;
  server.maxConnections = options.maxConnections ?? 4096;
  return {
    start: () => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.address, () => {
        server.off('error', reject);
        resolve({ port: (server.address() as AddressInfo).port });
      });
    }),
    stop: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
