import type { Readable } from 'node:stream';
import { KilnError, ErrorCode, MediaType, digestOf, isDigest, type Digest } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import type { RegistryTransport } from './transport.ts';
import { RegistryError } from './errors.ts';

/** Every manifest form Kiln reads, best first (distribution-spec "Pulling manifests"). */
export const MANIFEST_ACCEPT = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');

const MANIFEST_LIMIT = 4 << 20;
/** Size of the PATCH chunks of a blob a registry refused in one PUT (413). */
export const CHUNK_SIZE = 16 << 20;

/** A manifest or index as the registry served it, verified against its digest. */
export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** The repository name on the registry: Artifactory puts its repository key first (`/v2/<repository>/<user>/<name>`). */
export function repositoryName(registry: RegistryConfig, name: string): string {
  return registry.repository ? `${registry.repository}/${name}` : name;
}

/** Token scope to read a repository. */
export const pullScope = (repo: string): string => `repository:${repo}:pull`;
/** Token scope to write a repository. */
export const pushScope = (repo: string): string => `repository:${repo}:pull,push`;

async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > limit) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} is larger than ${limit} bytes`, { hint: 'this is not a manifest; check the registry' });
      chunks.push(Buffer.from(chunk));
    }
  }
  return Buffer.concat(chunks);
}

/** Checks the registry's health and protocol: GET /v2/ (authenticating if it asks). */
export async function ping(t: RegistryTransport, signal?: AbortSignal): Promise<void> {
  const res = await t.send({ method: 'GET', path: '/v2/', scopes: [], what: 'API check (/v2/)', signal });
  await res.body?.cancel();
}

/** Fetches a manifest or index by tag or digest, checking its digest against the reference or Docker-Content-Digest. */
export async function getManifest(t: RegistryTransport, repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
  const what = `manifest ${repo}:${reference}`;
  const res = await t.send({ method: 'GET', path: `/v2/${repo}/manifests/${reference}`, scopes: [pullScope(repo)], what, headers: { accept: MANIFEST_ACCEPT }, signal });
  const bytes = await readLimited(res, MANIFEST_LIMIT, what);
  const digest = digestOf(bytes);
  const announced = isDigest(reference) ? reference : res.headers.get('docker-content-digest');
  if (announced && announced.startsWith('sha256:') && announced !== digest) {
    throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${t.registry.label}: ${what} hashes to ${digest}, the registry says ${announced}`, {
      hint: 'the registry served corrupt or altered content; nothing was stored',
    });
  }
  let mediaType = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (!mediaType || mediaType === 'application/json') {
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
      mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
    } catch (err) {
      throw new KilnError(ErrorCode.BAD_ARCHIVE, `${t.registry.label}: ${what} is not JSON`, { cause: err });
    }
  }
  return { bytes, mediaType, digest };
}

/** The digest a tag points to, or undefined when the tag does not exist. */
export async function headManifest(t: RegistryTransport, repo: string, reference: string, signal?: AbortSignal): Promise<Digest | undefined> {
  const res = await t.send({ method: 'HEAD', path: `/v2/${repo}/manifests/${reference}`, scopes: [pullScope(repo)], what: `manifest ${repo}:${reference}`, headers: { accept: MANIFEST_ACCEPT }, accept: [404], signal });
  if (res.status === 404) return undefined;
  const digest = res.headers.get('docker-content-digest');
  return digest && isDigest(digest) ? digest : undefined;
}

/** Uploads a manifest byte for byte under a tag; checks the digest the registry computed. */
export async function putManifest(t: RegistryTransport, repo: string, tag: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<Digest> {
  const digest = digestOf(bytes);
  const res = await t.send({
    method: 'PUT', path: `/v2/${repo}/manifests/${tag}`, scopes: [pushScope(repo)], what: `manifest ${repo}:${tag}`,
    headers: { 'content-type': mediaType, 'content-length': String(bytes.length) }, body: () => bytes, signal,
  });
  await res.body?.cancel();
  const announced = res.headers.get('docker-content-digest');
  if (announced && announced !== digest) {
    throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${t.registry.label}: the registry stored manifest ${repo}:${tag} as ${announced}, expected ${digest}`, { hint: 'the registry rewrote the manifest' });
  }
  return digest;
}

/** The size of a blob in a repository, or undefined when it is not there. */
export async function headBlob(t: RegistryTransport, repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
  const res = await t.send({ method: 'HEAD', path: `/v2/${repo}/blobs/${digest}`, scopes: [pullScope(repo)], what: `blob ${digest} in ${repo}`, accept: [404], signal });
  if (res.status === 404) return undefined;
  return Number(res.headers.get('content-length') ?? 0);
}

/**
 * Opens a blob download; `offset` > 0 asks for the rest only (206), which `ranged` says was granted.
 * The body is best read with `nodeBody(res)`; the caller reads or cancels it.
 */
export async function getBlob(t: RegistryTransport, repo: string, digest: Digest, offset: number, signal?: AbortSignal): Promise<{ res: Response; ranged: boolean }> {
  const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
  const res = await t.send({ method: 'GET', path: `/v2/${repo}/blobs/${digest}`, scopes: [pullScope(repo)], what: `blob ${digest}`, headers, timeout: false, nodeBody: true, signal });
  return { res, ranged: offset > 0 && res.status === 206 };
}

function location(t: RegistryTransport, res: Response, what: string): URL {
  const loc = res.headers.get('location');
  if (!loc) throw new KilnError(ErrorCode.UNSUPPORTED, `${t.registry.label}: ${what}: the registry gave no upload location`, { hint: 'the registry does not follow the distribution spec' });
  return new URL(loc, t.baseUrl);
}

/** How a blob got to the registry. */
export type BlobPush = 'exists' | 'mounted' | 'uploaded';

/**
 * Makes sure a blob is in `repo`: HEAD first, then a cross-repository mount from `mountFrom`
 * when given, else an upload: one PUT of the whole blob, or PATCH chunks when the registry refuses so large a body.
 * `open(start, end)` gives a fresh stream of bytes [start, end] of the blob.
 */
export async function pushBlob(
  t: RegistryTransport,
  repo: string,
  blob: { digest: Digest; size: number },
  open: (start: number, end: number) => Readable,
  options: { mountFrom?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<BlobPush> {
  const { signal } = options;
  if ((await headBlob(t, repo, blob.digest, signal)) !== undefined) return 'exists';
  const what = `upload of ${blob.digest} to ${repo}`;
  const scopes = [pushScope(repo), ...(options.mountFrom ? [pullScope(options.mountFrom)] : [])];
  const query = options.mountFrom ? `?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(options.mountFrom)}` : '';
  const started = await t.send({ method: 'POST', path: `/v2/${repo}/blobs/uploads/${query}`, scopes, what, headers: { 'content-length': '0' }, body: () => '', signal });
  await started.body?.cancel();
  if (started.status === 201) return 'mounted';
  let url = location(t, started, what);
  const finish = (u: URL): string => {
    const done = new URL(u);
    done.searchParams.set('digest', blob.digest);
    return done.toString();
  };
  // A monolithic upload (distribution-spec "POST then PUT"): one request streams the whole blob,
  // as fast as the disk and the link go. A registry that refuses so large a body gets PATCH chunks.
  try {
    const res = await t.send({
      method: 'PUT', path: finish(url), scopes, what, timeout: false, signal,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: () => open(0, blob.size - 1),
    });
    await res.body?.cancel();
    return 'uploaded';
  } catch (err) {
    if (!(err instanceof RegistryError && err.status === 413) || blob.size <= CHUNK_SIZE) throw err;
  }
  const again = await t.send({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, scopes, what, headers: { 'content-length': '0' }, body: () => '', signal });
  await again.body?.cancel();
  url = location(t, again, what);
  for (let start = 0; start < blob.size; start += CHUNK_SIZE) {
    const end = Math.min(start + CHUNK_SIZE, blob.size) - 1;
    const res = await t.send({
      method: 'PATCH', path: url.toString(), scopes, what, timeout: false, signal,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}`, 'content-length': String(end - start + 1) },
      body: () => open(start, end),
    });
    await res.body?.cancel();
    url = location(t, res, what);
  }
  const res = await t.send({ method: 'PUT', path: finish(url), scopes, what, headers: { 'content-length': '0' }, body: () => '', signal });
  await res.body?.cancel();
  return 'uploaded';
}

/** The `next` target of a Link header (RFC 8288), as distribution-spec paginates lists. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/u.exec(part.trim());
    if (m && /(?:^|;)\s*rel="?next"?\s*(?:;|$)/u.test(m[2] ?? '')) return m[1];
  }
  return undefined;
}

const MAX_PAGES = 1000;

async function* paginate(t: RegistryTransport, first: string, key: 'repositories' | 'tags', scopes: string[], what: string, signal?: AbortSignal): AsyncGenerator<string> {
  let path: string | undefined = first;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const res = await t.send({ method: 'GET', path, scopes, what, headers: { accept: 'application/json' }, signal });
    const doc = JSON.parse((await readLimited(res, 16 << 20, what)).toString('utf8')) as Record<string, unknown>;
    const items = doc[key];
    if (Array.isArray(items)) for (const item of items) if (typeof item === 'string') yield item;
    const next = nextLink(res.headers.get('link'));
    path = next === undefined ? undefined : new URL(next, `${t.baseUrl}${path.startsWith('/') ? path : ''}`).toString();
  }
}

/** Every repository name of the registry (`/v2/_catalog`, following Link pagination). */
export function listCatalog(t: RegistryTransport, signal?: AbortSignal, pageSize = 100): AsyncGenerator<string> {
  return paginate(t, `/v2/_catalog?n=${pageSize}`, 'repositories', ['registry:catalog:*'], 'catalog', signal);
}

/** Every tag of a repository (`/v2/<name>/tags/list`, following Link pagination). */
export function listTags(t: RegistryTransport, repo: string, signal?: AbortSignal, pageSize = 100): AsyncGenerator<string> {
  return paginate(t, `/v2/${repo}/tags/list?n=${pageSize}`, 'tags', [pullScope(repo)], `tags of ${repo}`, signal);
}
