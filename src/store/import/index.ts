import { basename } from 'node:path';
import { readFile } from 'node:fs/promises';
import { KilnError, ErrorCode, MediaType, type Digest, type Progress } from '../../core/index.ts';
import { hostPlatform, parseConfig, type Descriptor, type Platform } from '../oci.ts';
import { parseOwnImageRef, suggestNameFrom, formatImageRef, type ImageRef } from '../reference.ts';
import type { Store } from '../store.ts';
import type { ImageRecord } from '../catalog.ts';
import type { Staging } from '../blobs.ts';
import { detectImageFormat, type ImageFormat } from './detect.ts';
import { directorySource, stagedSource } from './source.ts';
import { resolveManifest } from './resolve.ts';
import { assembleImage, importManifest, withLabels } from './assemble.ts';
import { stageArchiveMembers } from './archive.ts';
import { dockerItemToOci, parseDockerManifest, pickDockerItem } from './docker-archive.ts';
import { rootfsConfig, stageRootfs } from './rootfs.ts';
import type { DiffIdLedger } from './diff-ids.ts';

export { verifyDiffIds } from './diff-ids.ts';
export { IMAGE_FORMATS, parseImageFormat, detectImageFormat, classifyTarNames, type ImageFormat } from './detect.ts';

/** Options of {@link importImage}. */
export interface ImportOptions {
  /** The acting user: the image is imported under their name. */
  user: string;
  /** Target name `[<user>/]<name>[:<tag>]`; derived from the source when absent. */
  name?: string | undefined;
  format?: ImageFormat | undefined;
  /** Labels to set (e.g. walt.node.models); on a rootfs they make the config, otherwise they rewrite it. */
  labels?: Record<string, string>;
  /** Which image of a multi-image source (ref.name or docker tag). */
  selector?: string | undefined;
  /** Platform of a rootfs, or to pick from a multi-platform index. */
  platform?: Platform | undefined;
  force?: boolean;
  signal?: AbortSignal;
  /** Shows the blobs as they stream into the store. */
  progress?: Progress;
}

/** What an import did. */
export interface ImportResult {
  record: ImageRecord;
  format: ImageFormat;
}

/** Chooses the target name: the one given, else one derived from the source. */
function targetRef(user: string, given: string | undefined, foreign: string | undefined, path: string): ImageRef {
  if (given !== undefined) {
    return parseOwnImageRef(given, user, 'import');
  }
  const fromSource = foreign !== undefined && /[:/]/u.test(foreign) ? suggestNameFrom(foreign) : undefined;
  const fromFile = suggestNameFrom(basename(path));
  const pick = fromSource ?? (fromFile && foreign !== undefined && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/u.test(foreign) ? { ...fromFile, tag: foreign } : fromFile);
  if (!pick) {
    throw new KilnError(ErrorCode.INVALID_NAME, `cannot derive an image name from ${path}`, { hint: 'give one: kiln image import <path> <name>' });
  }
  return { user, ...pick };
}

/** Imports an OCI layout, OCI archive, docker-archive or rootfs tarball into the store. */
export async function importImage(store: Store, path: string, options: ImportOptions): Promise<ImportResult> {
  const format = options.format ?? (await detectImageFormat(path));
  const labels = options.labels ?? {};
  const force = options.force ?? false;
  const platform = options.platform ?? hostPlatform();
  if (options.name !== undefined && !force) {
    const ref = targetRef(options.user, options.name, undefined, path);
    if (store.findImage(ref)) failExists(ref);
  }
  const staging = await store.createStaging(options.signal, options.progress);
  try {
    const record = await importWith(format, store, staging, path, { ...options, labels, force, platform });
    return { record, format };
  } finally {
    await staging.dispose();
  }
}

function failExists(ref: ImageRef): never {
  throw new KilnError(ErrorCode.ALREADY_EXISTS, `image ${formatImageRef(ref)} already exists`, {
    hint: 'choose another name, remove it first with `kiln image remove`, or pass --force to replace it',
  });
}

type ResolvedOptions = ImportOptions & { labels: Record<string, string>; force: boolean; platform: Platform };

async function importWith(format: ImageFormat, store: Store, staging: Staging, path: string, o: ResolvedOptions): Promise<ImageRecord> {
  switch (format) {
    case 'oci': {
      const source = directorySource(path);
      const { descriptor, name } = await resolveManifest(source, { selector: o.selector, platform: o.platform });
      return importManifest({ store, staging, source, descriptor, ref: targetRef(o.user, o.name, name, path), labels: o.labels, force: o.force });
    }
    case 'oci-archive':
    case 'docker-archive': {
      const diffIds: DiffIdLedger = new Map();
      const members = await stageArchiveMembers(path, staging, diffIds);
      if (members.has('index.json') && (format === 'oci-archive' || members.has('oci-layout'))) {
        // Docker 25+ writes an OCI layout inside its docker-archive: the OCI manifest is exact.
        const source = stagedSource(path, staging, members, diffIds);
        const { descriptor, name } = await resolveManifest(source, { selector: o.selector, platform: o.platform });
        return importManifest({ store, staging, source, descriptor, ref: targetRef(o.user, o.name, name, path), labels: o.labels, force: o.force });
      }
      const manifestDigest: Digest | undefined = members.get('manifest.json');
      const manifestBlob = manifestDigest && staging.staged.get(manifestDigest);
      if (!manifestBlob) {
        throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path} has neither index.json nor manifest.json`, { hint: 'it is not an OCI archive nor a docker-archive; for a root filesystem use --format rootfs' });
      }
      const item = pickDockerItem(parseDockerManifest(await readFile(manifestBlob.path, 'utf8'), path), o.selector, path);
      const { configBlob, layers } = await dockerItemToOci(item, members, staging, path, diffIds);
      let config = parseConfig(await readFile(configBlob.path), `${path} config`);
      let configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size };
      if (Object.keys(o.labels).length > 0) {
        config = withLabels(config, o.labels);
        const staged = await staging.stageBytes(JSON.stringify(config));
        configDesc = { ...configDesc, digest: staged.digest, size: staged.size };
      }
      const ref = targetRef(o.user, o.name, item.RepoTags?.[0], path);
      return assembleImage({ store, staging, ref, config, configDesc, layers, force: o.force });
    }
    case 'rootfs': {
      const ref = targetRef(o.user, o.name, undefined, path);
      const staged = await stageRootfs(path, staging);
      const epoch = process.env.SOURCE_DATE_EPOCH;
      const created = new Date(epoch && /^\d+$/u.test(epoch) ? Number(epoch) * 1000 : Date.now()).toISOString();
      const config = rootfsConfig({ diffId: staged.diffId, platform: o.platform, labels: o.labels, created, source: basename(path) });
      const configBlob = await staging.stageBytes(JSON.stringify(config));
      const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size };
      const record = await assembleImage({ store, staging, ref, config, configDesc, layers: [staged.layer], force: o.force });
      await store.adoptLayerIndex(staged.layer, staged.indexFile);
      return record;
    }
  }
}
