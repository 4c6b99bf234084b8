import { KilnError, ErrorCode, type Digest } from '../core/index.ts';
import { formatImageRef, importImage, parseImageRef, parseOwnImageRef, type ImageRecord, type ImageRef, type Platform, type Store } from '../store/index.ts';
import { loadBlobLocations } from './blob-locations.ts';
import { parseCloneUrl, type CloneUrl } from './clone-url.ts';
import { repositoryName } from './distribution.ts';
import { pullImage } from './pull.ts';
import type { RegistrySession } from './session.ts';

/** Options of {@link cloneImage}. */
export interface CloneOptions {
  /** The acting user: the clone is theirs. */
  user: string;
  /** `<name>[:<tag>]` in the caller's namespace; default: the URL's name and tag. */
  name?: string | undefined;
  force?: boolean | undefined;
  platform?: Platform | undefined;
  signal?: AbortSignal | undefined;
}

/** What a clone did. */
export interface CloneResult {
  record: ImageRecord;
  url: CloneUrl;
  /** The source's manifest digest, when it came from a registry. */
  sourceDigest?: Digest;
  downloaded?: number;
  reused?: number;
}

function targetRef(user: string, url: CloneUrl, name: string | undefined): ImageRef {
  const text = name ?? `${url.name}:${url.tag}`;
  let ref: ImageRef;
  try {
    ref = parseOwnImageRef(text, user, 'clone');
  } catch (err) {
    if (name !== undefined) throw err;
    throw new KilnError(ErrorCode.INVALID_NAME, `"${url.name}:${url.tag}" is not a valid Kiln image name`, {
      cause: err, hint: 'give the clone a name: kiln image clone <url> <name>',
    });
  }
  return ref;
}

function exists(ref: ImageRef): KilnError {
  return new KilnError(ErrorCode.ALREADY_EXISTS, `image ${formatImageRef(ref)} already exists`, {
    hint: 'give the clone another name (kiln image clone <url> <name>), or pass --force to replace it',
  });
}

/** Clones an image from a clone URL (walt:, docker:, hub:, <label>:) into the store under the caller's name. */
export async function cloneImage(session: RegistrySession, store: Store, urlText: string, options: CloneOptions): Promise<CloneResult> {
  const url = parseCloneUrl(urlText, session.registries);
  const target = targetRef(options.user, url, options.name);
  const force = options.force === true;
  if (!force && store.findImage(target)) throw exists(target);
  const source = `${url.user}/${url.name}:${url.tag}`;
  if (url.location === 'walt') {
    const from = parseImageRef(source, options.user, { allowReserved: true });
    return { record: store.duplicate(from, target, { force }), url };
  }
  if (url.location === 'docker') {
    const daemon = session.daemon();
    const images = await daemon.listImages(undefined, options.signal);
    const found = images.find((i) => i.name === source);
    if (!found) {
      throw new KilnError(ErrorCode.NOT_FOUND, `the Docker daemon at ${daemon.where} has no image ${source}`, { hint: '`kiln image search` lists its node images' });
    }
    const saved = await daemon.saveImage(found.daemonName, store.dirs.workDir, options.signal);
    try {
      const { record } = await importImage(store, saved.file, { user: options.user, name: `${target.name}:${target.tag}`, format: 'docker-archive', force, ...(options.signal ? { signal: options.signal } : {}) });
      return { record, url };
    } finally {
      await saved.cleanup();
    }
  }
  const transport = session.transport(url.location);
  const repo = repositoryName(transport.registry, `${url.user}/${url.name}`);
  const result = await pullImage({
    store, transport, repo, reference: url.tag, target, platform: options.platform, force,
    logger: session.logger, progress: session.progress, signal: options.signal,
  });
  const locations = await loadBlobLocations(store.dirs.cacheDir('registry'));
  const manifest = await store.readManifest(result.record.manifestDigest);
  locations.note(transport.baseUrl, repo, [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
  await locations.save();
  return { record: result.record, url, sourceDigest: result.sourceDigest, downloaded: result.downloaded, reused: result.reused };
}
