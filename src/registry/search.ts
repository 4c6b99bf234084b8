import { KilnError, ErrorCode, digestOf } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import {
  DEFAULT_SERVER_VERSION, LABELS, MAX_SERVER_VERSION, labelModels, configLabels, manifestKind, parseConfig, parseIndex, parseManifest, shortImageName, type Store,
} from '../store/index.ts';
import { formatCloneUrl, type CloneUrl } from './clone-url.ts';
import { getBlob, getManifest, listCatalog, listTags } from './distribution.ts';
import { listDaemonNodeImages } from './docker-daemon.ts';
import { findMetadataUsers, METADATA_REPO, readUserMetadata } from './hub.ts';
import { platformEntries } from './platform.ts';
import { forEachLimited } from './pull.ts';
import type { RegistrySession } from './session.ts';
import type { RegistryTransport } from './transport.ts';

/** The WalT server version whose images Kiln handles: images asking for more are marked, not offered. */
export const SUPPORTED_SERVER_VERSION = MAX_SERVER_VERSION;
/** The label naming the oldest WalT server an image works with (default 4). */
export const MINVERSION_LABEL = LABELS.minVersion;

/** One node image found somewhere. */
export interface SearchHit {
  user: string;
  name: string;
  tag: string;
  location: string;
  /** `walt (other user)`, `docker hub`, `docker daemon`, `<label> registry`. */
  where: string;
  models: string[];
  /** The clone URL; absent when the image needs a newer server than Kiln supports. */
  cloneUrl?: string;
  minVersion: number;
}

/** A location that could not be searched, and why. */
export interface SearchFailure {
  location: string;
  code: string;
  message: string;
  hint: string;
}

function whereOf(location: string, registries: readonly RegistryConfig[]): string {
  if (location === 'walt') return 'walt (other user)';
  if (location === 'docker') return 'docker daemon';
  const r = registries.find((x) => x.label === location);
  return r?.api === 'docker-hub' ? 'docker hub' : `${location} registry`;
}

/** Builds a hit from a name and labels, or undefined when it is not a node image. */
function hit(location: string, fullname: string, labels: Record<string, string>, registries: readonly RegistryConfig[]): SearchHit | undefined {
  const m = /^([^/:]+)\/([^/:]+)(?::(.+))?$/u.exec(fullname);
  const models = labelModels(labels);
  if (!m || models.length === 0) return undefined;
  const url: CloneUrl = { location, user: m[1] as string, name: m[2] as string, tag: m[3] ?? 'latest' };
  const parsed = Number.parseInt(labels[MINVERSION_LABEL] ?? String(DEFAULT_SERVER_VERSION), 10);
  const minVersion = Number.isFinite(parsed) ? parsed : 4;
  const out: SearchHit = { user: url.user, name: url.name, tag: url.tag, location, where: whereOf(location, registries), models, minVersion };
  if (minVersion <= SUPPORTED_SERVER_VERSION) out.cloneUrl = formatCloneUrl(url);
  return out;
}

/** Labels of the image a tag names (the first platform's, for an index). */
async function remoteLabels(t: RegistryTransport, repo: string, tag: string, signal?: AbortSignal): Promise<Record<string, string>> {
  let fetched = await getManifest(t, repo, tag, signal);
  if (manifestKind(JSON.parse(fetched.bytes.toString('utf8')) as Record<string, unknown>, fetched.mediaType) === 'index') {
    const index = parseIndex(fetched.bytes, `${repo}:${tag}`);
    const entry = platformEntries(index)[0] ?? index.manifests[0];
    if (!entry) return {};
    fetched = await getManifest(t, repo, entry.digest, signal);
  }
  const manifest = parseManifest(fetched.bytes, `${repo}:${tag}`);
  if (manifest.config.size > 4 << 20) return {};
  const { res } = await getBlob(t, repo, manifest.config.digest, 0, signal);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (digestOf(bytes) !== manifest.config.digest) throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${t.registry.label}: config of ${repo}:${tag} does not match its digest`);
  return configLabels(parseConfig(bytes, `${repo}:${tag} config`));
}

async function searchRegistry(session: RegistrySession, registry: RegistryConfig, signal?: AbortSignal): Promise<SearchHit[]> {
  const t = session.transport(registry.label);
  const hits: SearchHit[] = [];
  if (registry.api === 'docker-hub') {
    const users = await findMetadataUsers(t, session.fetch, signal);
    await forEachLimited(users, 4, async (user) => {
      for (const [fullname, info] of Object.entries(await readUserMetadata(t, user, signal))) {
        if (!fullname.startsWith(`${user}/`)) continue; // a user vouches only for their own images
        const h = hit(registry.label, fullname, info.labels ?? {}, session.registries);
        if (h) hits.push(h);
      }
    });
    return hits;
  }
  const prefix = registry.repository ? `${registry.repository}/` : '';
  const repos: string[] = [];
  for await (const repo of listCatalog(t, signal)) {
    const rest = repo.startsWith(prefix) ? repo.slice(prefix.length) : undefined;
    if (rest !== undefined && /^[^/]+\/[^/]+$/u.test(rest) && !rest.endsWith(`/${METADATA_REPO}`)) repos.push(repo);
  }
  await forEachLimited(repos, 8, async (repo) => {
    for await (const tag of listTags(t, repo, signal)) {
      const h = hit(registry.label, `${repo.slice(prefix.length)}:${tag}`, await remoteLabels(t, repo, tag, signal), session.registries);
      if (h) hits.push(h);
    }
  });
  return hits;
}

/**
 * Searches every location at once: other users' images in the store (walt:), the Docker
 * daemon (docker:), and each configured registry. A location that fails is reported in
 * `failures` and does not hide the others.
 */
export async function searchImages(session: RegistrySession, store: Store, user: string, keyword?: string, signal?: AbortSignal): Promise<{ hits: SearchHit[]; failures: SearchFailure[] }> {
  const jobs: Array<[string, () => Promise<SearchHit[]>]> = [
    ['walt', async () => store.listImages().filter((r) => r.ref.user !== user)
      .flatMap((r) => hit('walt', `${r.ref.user}/${r.ref.name}:${r.ref.tag}`, r.labels, session.registries) ?? [])],
    ['docker', async () => (await listDaemonNodeImages(session.daemon(), signal)).flatMap((i) => hit('docker', i.name, i.labels, session.registries) ?? [])],
    ...session.registries.map((r): [string, () => Promise<SearchHit[]>] => [r.label, () => searchRegistry(session, r, signal)]),
  ];
  const settled = await Promise.allSettled(jobs.map(([, job]) => job()));
  const hits: SearchHit[] = [];
  const failures: SearchFailure[] = [];
  settled.forEach((s, i) => {
    const location = jobs[i]?.[0] ?? '?';
    if (s.status === 'fulfilled') hits.push(...s.value);
    else {
      const e = s.reason as KilnError;
      failures.push({ location, code: e.code ?? 'INTERNAL', message: e.message ?? String(e), hint: e.hint ?? '' });
    }
  });
  const wanted = (h: SearchHit): boolean => !keyword || `${h.location}:${h.user}/${shortImageName(h)}`.includes(keyword) || h.models.some((m) => m.includes(keyword));
  const sorted = hits.filter(wanted).sort((a, b) => `${a.user}/${a.name}:${a.tag} ${a.location}`.localeCompare(`${b.user}/${b.name}:${b.tag} ${b.location}`));
  return { hits: sorted, failures };
}
