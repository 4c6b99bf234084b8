import { Readable } from 'node:stream';
import { ErrorCode, silentLogger, type Logger } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import type { Credentials } from './auth-file.ts';
import { parseChallenges, type Challenge } from './challenge.ts';
import { RegistryError, idleError, isRetryable, networkError, responseError } from './errors.ts';
import { DEFAULT_IDLE_TIMEOUT, fetchWithIdleTimeout } from './idle.ts';
import { createNodeFetch, type FetchLike, type NodeFetchInit } from './node-fetch.ts';

/** One HTTP exchange with a registry. */
export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path under the registry (`/v2/...`) or an absolute URL it gave (an upload Location). */
  path: string;
  /** Token scopes the request needs, e.g. `repository:alice/x:pull`. */
  scopes: readonly string[];
  /** What is being done, for messages: `manifest alice/x:latest`. */
  what: string;
  headers?: Record<string, string>;
  /** Makes the body; called again for each retry, so it must give a fresh stream each time. */
  body?: () => string | Uint8Array | Readable;
  /** Statuses that are not failures (default: any 2xx). */
  accept?: readonly number[];
  /** false for blob transfers, which may take longer than a metadata request's time limit. */
  timeout?: boolean;
  /** The caller reads the body as a Node stream with `nodeBody` (a blob download), and reads or cancels it in every case. */
  nodeBody?: boolean;
  signal?: AbortSignal | undefined;
}

/** Talks to one registry: base URL, authentication (Basic, Bearer tokens reused until expiry) and retries. */
export interface RegistryTransport {
  readonly registry: RegistryConfig;
  readonly baseUrl: string;
  /** Sends a request, authenticating and retrying as needed; a failure is a RegistryError. */
  send(request: RegistryRequest): Promise<Response>;
}

/** Collaborators of {@link createTransport}. */
export interface TransportOptions {
  /** Credentials from the auth file, read only when the registry asks for them. */
  credentials?: () => Promise<Credentials | undefined>;
  fetch?: FetchLike;
  logger?: Logger;
  /** Time limit of metadata requests (ms); default: 30 s, or twice the idle timeout when that is longer. */
  timeoutMs?: number;
  /** network_idle_timeout (ms): how long any exchange may go without a byte moving before it fails, unretried. */
  idleTimeoutMs?: number;
  /** Attempts after the first on 429, 5xx and dropped connections. */
  retries?: number;
  /** No retry starts once this much time (ms) went by since the first attempt; default: the idle timeout. */
  retryBudgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

interface Token {
  value: string;
  expires: number;
}

const DEFAULT_TIMEOUT = 30_000;

/** The registry's base URL from its configuration. */
export function registryBaseUrl(r: RegistryConfig): string {
  const scheme = r.protocol === 'http' ? 'http' : 'https';
  const host = r.host.includes(':') && !r.host.startsWith('[') ? `[${r.host}]` : r.host;
  return `${scheme}://${host}:${r.port}`;
}

function basic(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

/** Creates the transport of one configured registry. */
export function createTransport(registry: RegistryConfig, options: TransportOptions = {}): RegistryTransport {
  const baseUrl = registryBaseUrl(registry);
  const label = registry.label;
  // Every exchange over node:http (one client, one connection pool): an upload's file stream is
  // piped into the socket and a download's socket into the file, without the web-stream adapters
  // fetch needs around them (for an upload they cost about as much CPU as the rest of a publish;
  // a download also skips undici's per-chunk work), and a clone does not wait for fetch to load.
  const noVerify = registry.protocol === 'https-no-verify';
  const doFetch: FetchLike = options.fetch ?? createNodeFetch(noVerify ? { rejectUnauthorized: false } : {});
  const logger = options.logger ?? silentLogger;
  const retries = options.retries ?? 4;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT;
  const timeoutMs = options.timeoutMs ?? Math.max(DEFAULT_TIMEOUT, 2 * idleMs);
  const budgetMs = options.retryBudgetMs ?? idleMs;
  /** One fetch under the idle timeout: a silent server gives a NETWORK error naming the setting. */
  const guarded = (url: string, init: NodeFetchInit, what: string): Promise<Response> =>
    fetchWithIdleTimeout(doFetch, url, init, idleMs, (phase) => idleError(label, what, url, idleMs, phase));
  let scheme: 'basic' | 'bearer' | undefined;
  let bearer: Challenge | undefined;
  const tokens = new Map<string, Token>();
  const pending = new Map<string, Promise<Token>>();
  let credsRead: Promise<Credentials | undefined> | undefined;
  const creds = (): Promise<Credentials | undefined> => {
    if (registry.auth === 'none' || !options.credentials) return Promise.resolve(undefined);
    credsRead ??= options.credentials();
    return credsRead;
  };

  const fetchToken = async (scopes: readonly string[], signal: AbortSignal | undefined): Promise<Token> => {
    const realm = bearer?.params.realm;
    if (!realm) throw new RegistryError(ErrorCode.AUTH, `${label}: the registry asks for a token but names no realm`, { hint: 'the registry\'s auth configuration is broken' });
    const url = new URL(realm, baseUrl);
    if (bearer?.params.service) url.searchParams.set('service', bearer.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const c = await creds();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (c) headers.authorization = basic(c);
    let res: Response;
    try {
      res = await guarded(url.toString(), { headers, signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]) }, 'token request');
    } catch (err) {
      throw networkError(err, label, url.origin, registry.protocol);
    }
    if (!res.ok) {
      const e = await responseError(res, `token for ${scopes.join(' ') || 'login'}`, label);
      if (e.code === ErrorCode.AUTH && !c) throw new RegistryError(ErrorCode.AUTH, `${label}: the registry wants credentials`, { status: e.status, hint: `run \`kiln login ${label}\`` });
      throw e;
    }
    const doc = (await res.json()) as { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    const value = doc.token ?? doc.access_token;
    if (typeof value !== 'string' || value === '') throw new RegistryError(ErrorCode.AUTH, `${label}: the token server gave no token`);
    const issued = doc.issued_at ? Date.parse(doc.issued_at) : Number.NaN;
    const lifetime = (typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60) * 1000;
    // Clocks differ: count from our own clock unless issued_at is sane, and renew 10 s early.
    const start = Number.isFinite(issued) && Math.abs(issued - now()) < 300_000 ? issued : now();
    logger.debug(`${label}: token for ${scopes.join(' ') || '(no scope)'} valid ${lifetime / 1000} s`);
    return { value, expires: start + lifetime - 10_000 };
  };

  const tokenFor = async (scopes: readonly string[], signal: AbortSignal | undefined, fresh: boolean): Promise<string> => {
    const key = [...scopes].sort().join(' ');
    const cached = tokens.get(key);
    if (!fresh && cached && cached.expires > now()) return cached.value;
    let inFlight = pending.get(key);
    if (!inFlight) {
      inFlight = fetchToken(scopes, signal).finally(() => pending.delete(key));
      pending.set(key, inFlight);
    }
    const token = await inFlight;
    tokens.set(key, token);
    return token.value;
  };

  const authorization = async (scopes: readonly string[], signal: AbortSignal | undefined, fresh: boolean): Promise<string | undefined> => {
    if (scheme === 'basic') {
      const c = await creds();
      return c ? basic(c) : undefined;
    }
    if (scheme === 'bearer') return `Bearer ${await tokenFor(scopes, signal, fresh)}`;
    return undefined;
  };

  /** Learns how the registry wants to be addressed from a 401; false when Kiln has nothing to offer. */
  const learn = async (res: Response, request: RegistryRequest): Promise<boolean> => {
    const challenges = parseChallenges(res.headers.get('www-authenticate') ?? '');
    const b = challenges.find((c) => c.scheme === 'bearer');
    if (b) {
      scheme = 'bearer';
      bearer = b;
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const c = await creds();
      if (!c) {
        await res.body?.cancel();
        throw new RegistryError(ErrorCode.AUTH, `${label}: ${request.what}: the registry wants a user name and password`, {
          status: 401, hint: registry.auth === 'none' ? `set "auth: basic" for ${label} in kiln.yaml, then run kiln login ${label}` : `run \`kiln login ${label}\``,
        });
      }
      const first = scheme !== 'basic';
      scheme = 'basic';
      return first;
    }
    return false;
  };

  const attempt = async (request: RegistryRequest, authRetry: boolean): Promise<Response> => {
    const url = /^https?:\/\//u.test(request.path) ? request.path : `${baseUrl}${request.path}`;
    const headers: Record<string, string> = { 'user-agent': 'kiln', ...request.headers };
    const auth = await authorization(request.scopes, request.signal, authRetry);
    if (auth) headers.authorization = auth;
    const signals = [...(request.signal ? [request.signal] : []), ...(request.timeout === false ? [] : [AbortSignal.timeout(timeoutMs)])];
    const body = request.body?.();
    const init: NodeFetchInit = { method: request.method, headers, redirect: 'follow', ...(request.nodeBody ? { nodeBody: true } : {}) };
    if (signals.length > 0) init.signal = AbortSignal.any(signals);
    if (body !== undefined) {
      if (typeof body === 'string' || body instanceof Uint8Array) init.body = body;
      else {
        // node:http takes the Node stream as it is; another fetch gets a web stream.
        init.body = (options.fetch ? Readable.toWeb(body) : body) as unknown as RequestInit['body'];
        init.duplex = 'half';
      }
    }
    let res: Response;
    try {
      res = await guarded(url, init, request.what);
    } catch (err) {
      if (request.signal?.aborted) throw request.signal.reason;
      throw networkError(err, label, url.replace(/\?.*$/u, ''), registry.protocol);
    }
    if (res.status === 401 && !authRetry && (await learn(res, request))) {
      await res.body?.cancel();
      return attempt(request, true);
    }
    if (res.ok || request.accept?.includes(res.status)) return res;
    throw await responseError(res, request.what, label);
  };

  const send = async (request: RegistryRequest): Promise<Response> => {
    const started = now();
    for (let n = 0; ; n++) {
      try {
        return await attempt(request, false);
      } catch (err) {
        if (!isRetryable(err) || n >= retries) throw err;
        const wait = Math.min(200 * 2 ** n, 5_000) * (0.75 + Math.random() / 2);
        // Retries help with a blip, not with a server that keeps failing slowly: the total stays bounded.
        if (now() - started + wait > budgetMs) throw err;
        logger.debug(`${label}: ${request.what}: ${(err as Error).message}; retry ${n + 1}/${retries} in ${Math.round(wait)} ms`);
        await sleep(wait);
      }
    }
  };

  return { registry, baseUrl, send };
}
