import { KilnError, ErrorCode, MediaType, digestOf, type Digest } from '../core/index.ts';
import { DOCKER_HUB_HOST } from '../config/index.ts';
import { parseConfig, parseManifest } from '../store/index.ts';
import { getBlob, getManifest, listCatalog, pushBlob, putManifest, repositoryName } from './distribution.ts';
import { networkError, responseError } from './errors.ts';
import type { FetchLike } from './node-fetch.ts';
import { Readable } from 'node:stream';
import type { RegistryTransport } from './transport.ts';

/**
 * WalT's discovery convention on Docker Hub: each user has a `<user>/walt_metadata:latest`
 * image whose label `metadata` is base64 JSON `{"walt.user.images": {"<user>/<name>:<tag>":
 * {"labels": {...}}}}`, refreshed by every publish. Search finds users through the Hub's
 * repository search (or `_catalog` on a self-hosted registry with the docker-hub api).
 */
export const METADATA_REPO = 'walt_metadata';

/** One user's published node images, by `<user>/<name>:<tag>`. */
export type UserMetadata = Record<string, { labels: Record<string, string> }>;

const HUB_SEARCH_URL = 'https://hub.docker.com';
const MAX_PAGES = 20;

async function readJson(res: Response, limit: number): Promise<unknown> {
  const text = await res.text();
  if (text.length > limit) throw new KilnError(ErrorCode.BAD_ARCHIVE, 'registry answer too large');
  return JSON.parse(text) as unknown;
}

/** A user's walt_metadata (empty when they never published). */
export async function readUserMetadata(t: RegistryTransport, user: string, signal?: AbortSignal): Promise<UserMetadata> {
  const repo = repositoryName(t.registry, `${user}/${METADATA_REPO}`);
  let manifestBytes: Buffer;
  try {
    manifestBytes = (await getManifest(t, repo, 'latest', signal)).bytes;
  } catch (err) {
    if (err instanceof KilnError && err.code === ErrorCode.NOT_FOUND) return {};
    throw err;
  }
  const manifest = parseManifest(manifestBytes, `${repo} manifest`);
  const { res } = await getBlob(t, repo, manifest.config.digest, 0, signal);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (digestOf(bytes) !== manifest.config.digest) throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${t.registry.label}: ${repo} config does not match its digest`);
  const labels = parseConfig(bytes, `${repo} config`).config?.Labels ?? {};
  const encoded = labels?.metadata;
  if (typeof encoded !== 'string') return {};
  try {
    const doc = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as { 'walt.user.images'?: UserMetadata };
    return { ...(doc['walt.user.images'] ?? {}) };
  } catch (err) {
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `${t.registry.label}: ${repo} has unreadable metadata`, { cause: err, hint: 'publish an image again to rewrite it' });
  }
}

/** Records an image in its owner's walt_metadata image (read, update, push back). */
export async function updateUserMetadata(t: RegistryTransport, user: string, fullname: string, labels: Record<string, string>, signal?: AbortSignal): Promise<void> {
  const images = await readUserMetadata(t, user, signal);
  images[fullname] = { labels };
  const metadata = Buffer.from(JSON.stringify({ 'walt.user.images': images })).toString('base64');
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Labels: { metadata } }, rootfs: { type: 'layers', diff_ids: [] },
  }));
  const configDigest: Digest = digestOf(config);
  const repo = repositoryName(t.registry, `${user}/${METADATA_REPO}`);
  await pushBlob(t, repo, { digest: configDigest, size: config.length }, () => Readable.from([config]), { signal });
  // Docker schema2, as WalT writes it: older WalT servers read only this format.
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, size: config.length, digest: configDigest }, layers: [],
  }));
  await putManifest(t, repo, 'latest', manifest, MediaType.dockerManifest, signal);
}

/** Users who have a walt_metadata image: from the Hub's search API, or `_catalog` on a self-hosted registry. */
export async function findMetadataUsers(t: RegistryTransport, fetchImpl: FetchLike, signal?: AbortSignal): Promise<string[]> {
  const users = new Set<string>();
  const searchUrl = t.registry.searchUrl ?? (t.registry.host === DOCKER_HUB_HOST ? HUB_SEARCH_URL : undefined);
  if (searchUrl === undefined) {
    const prefix = t.registry.repository ? `${t.registry.repository}/` : '';
    for await (const repo of listCatalog(t, signal)) {
      const m = /^([^/]+)\/walt_metadata$/u.exec(repo.startsWith(prefix) ? repo.slice(prefix.length) : '');
      if (m) users.add(m[1] as string);
    }
    return [...users];
  }
  let url: string | undefined = `${searchUrl}/v2/search/repositories/?query=${METADATA_REPO}&page_size=100`;
  for (let page = 0; url && page < MAX_PAGES; page++) {
    let res: Response;
    try {
      res = await fetchImpl(url, { headers: { accept: 'application/json' }, signal: AbortSignal.any([AbortSignal.timeout(30_000), ...(signal ? [signal] : [])]) });
    } catch (err) {
      throw networkError(err, t.registry.label, new URL(url).origin, 'https');
    }
    if (!res.ok) throw await responseError(res, 'repository search', t.registry.label);
    const doc = (await readJson(res, 8 << 20)) as { results?: Array<{ repo_name?: string; name?: string; repo_owner?: string }>; next?: string | null };
    for (const r of doc.results ?? []) {
      const name = r.repo_name ?? r.name ?? '';
      const full = name.includes('/') ? name : r.repo_owner ? `${r.repo_owner}/${name}` : name;
      const m = /^([^/]+)\/walt_metadata$/u.exec(full);
      if (m) users.add(m[1] as string);
    }
    url = typeof doc.next === 'string' && doc.next !== '' ? new URL(doc.next, searchUrl).toString() : undefined;
  }
  return [...users];
}
