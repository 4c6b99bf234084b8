import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  KilnError, ErrorCode, assertLayerCompression, layerMediaType, sniffFileCompression, type Digest,
} from '../../core/index.ts';
import { parseConfig, type Descriptor } from '../oci.ts';
import type { StagedBlob, Staging } from '../blobs.ts';
import { verifyDiffIds, type DiffIdLedger } from './diff-ids.ts';

/** One entry of a docker-archive's manifest.json. */
export interface DockerArchiveItem {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function bad(path: string, why: string): KilnError {
  return new KilnError(ErrorCode.BAD_ARCHIVE, `${path}: ${why}`, { hint: 'the docker-archive is corrupt or incomplete; save it again' });
}

/** Parses manifest.json of a docker-archive. */
export function parseDockerManifest(text: string, path: string): DockerArchiveItem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(path, `manifest.json is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw bad(path, 'manifest.json lists no image');
  return doc.map((item: unknown, i) => {
    const v = (typeof item === 'object' && item !== null ? item : {}) as Partial<DockerArchiveItem>;
    if (typeof v.Config !== 'string' || !Array.isArray(v.Layers) || !v.Layers.every((l) => typeof l === 'string')) {
      throw bad(path, `manifest.json entry ${i} lacks Config or Layers`);
    }
    // Tags that are not strings are ignored, as if absent.
    const tags = Array.isArray(v.RepoTags) ? v.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { Config: v.Config, RepoTags: tags, Layers: v.Layers };
  });
}

/** Chooses the image of a docker-archive: the one tagged `selector`, else the only one. */
export function pickDockerItem(items: DockerArchiveItem[], selector: string | undefined, path: string): DockerArchiveItem {
  if (selector !== undefined) {
    const found = items.find((i) => (i.RepoTags ?? []).some((t) => t === selector || t.endsWith(`/${selector}`) || t.endsWith(`:${selector}`)));
    if (!found) throw new KilnError(ErrorCode.NOT_FOUND, `${path} has no image tagged "${selector}"`, { hint: `tags: ${items.flatMap((i) => i.RepoTags ?? []).join(', ')}` });
    return found;
  }
  if (items.length === 1) return items[0] as DockerArchiveItem;
  throw new KilnError(ErrorCode.AMBIGUOUS, `${path} holds ${items.length} images`, {
    hint: `choose one with --ref <tag>; tags: ${items.flatMap((i) => i.RepoTags ?? []).join(', ')}`,
  });
}

/**
 * Turns a staged docker-archive into an OCI config and layer descriptors. Layers keep
 * their bytes (docker-archives hold uncompressed tars: OCI `tar` layers); every layer
 * must match the config's diff_ids (`diffIds`: those computed while the archive was staged).
 */
export async function dockerItemToOci(
  item: DockerArchiveItem,
  members: ReadonlyMap<string, Digest>,
  staging: Staging,
  path: string,
  diffIds: DiffIdLedger,
): Promise<{ configBlob: StagedBlob; layers: Descriptor[] }> {
  const lookup = (member: string): StagedBlob => {
    const digest = members.get(member.replace(/^\.\//u, ''));
    const blob = digest && staging.staged.get(digest);
    if (!blob) throw bad(path, `member ${member} named in manifest.json is missing`);
    return blob;
  };
  const configBlob = lookup(item.Config);
  const config = parseConfig(await readFile(configBlob.path), `${path} config ${item.Config}`);
  const layers: Descriptor[] = [];
  for (const member of item.Layers) {
    const blob = lookup(member);
    const compression = await sniffFileCompression(blob.path);
    assertLayerCompression(compression, `${path} layer ${member}`);
    layers.push({ mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size });
  }
  await verifyDiffIds({
    what: path, config, layers, ledger: diffIds,
    open: (layer) => createReadStream((staging.staged.get(layer.digest) as StagedBlob).path),
  });
  return { configBlob, layers };
}
