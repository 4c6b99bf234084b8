import { KilnError, ErrorCode } from '../../core/index.ts';
import {
  REF_NAME_ANNOTATION, manifestKind, parseIndex, parseJson, platformMatches, type Descriptor, type ImageIndex, type Platform,
} from '../oci.ts';
import type { LayoutSource } from './source.ts';

const CONTAINERD_NAME = 'io.containerd.image.name';

/** The name an index entry carries (OCI ref.name, else containerd's image name). */
export function entryName(desc: Descriptor): string | undefined {
  // Annotations come from outside: a name that is not a string is no name.
  const name: unknown = desc.annotations?.[REF_NAME_ANNOTATION] ?? desc.annotations?.[CONTAINERD_NAME];
  return typeof name === 'string' ? name : undefined;
}

function formatPlatform(p: Platform | undefined): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown platform';
}

/** Picks by platform among index entries that are image manifests. */
function pickPlatform(entries: Descriptor[], platform: Platform, what: string): Descriptor {
  const match = entries.find((e) => platformMatches(e.platform, platform));
  if (match) return match;
  throw new KilnError(ErrorCode.NOT_FOUND, `${what} has no image for ${formatPlatform(platform)}`, {
    hint: `available: ${entries.map((e) => formatPlatform(e.platform)).join(', ')}; choose one with --platform`,
  });
}

/**
 * Resolves a layout's index.json to one image manifest descriptor: the entry named
 * `selector` (full ref.name or its tag) when given, else the only one; nested indexes
 * (multi-platform images) are resolved by `platform`.
 */
export async function resolveManifest(
  source: LayoutSource,
  options: { selector?: string | undefined; platform: Platform },
): Promise<{ descriptor: Descriptor; name: string | undefined }> {
  const index = parseIndex(await source.readIndex(), `${source.what} index.json`);
  let candidates = index.manifests;
  if (options.selector !== undefined) {
    const sel = options.selector;
    candidates = candidates.filter((d) => {
      const name = entryName(d);
      return name === sel || (name !== undefined && name.endsWith(`:${sel}`)) || d.digest === sel;
    });
    if (candidates.length === 0) {
      throw new KilnError(ErrorCode.NOT_FOUND, `${source.what} has no image named "${sel}"`, {
        hint: `names in it: ${index.manifests.map(entryName).filter(Boolean).join(', ') || '(none)'}`,
      });
    }
  }
  if (candidates.length === 0) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${source.what} holds no image`, { hint: 'its index.json lists no manifests' });
  const names = new Set(candidates.map(entryName));
  let chosen: Descriptor;
  if (candidates.length === 1) {
    chosen = candidates[0] as Descriptor;
  } else if (names.size === 1 && candidates.every((c) => c.platform)) {
    chosen = pickPlatform(candidates, options.platform, source.what);
  } else {
    throw new KilnError(ErrorCode.AMBIGUOUS, `${source.what} holds ${candidates.length} images`, {
      hint: `choose one with --ref <name>; names: ${[...names].map((n) => n ?? '(unnamed)').join(', ')}`,
    });
  }
  const name = entryName(chosen);
  for (let depth = 0; depth < 4; depth++) {
    const bytes = await source.readSmall(chosen);
    const doc = parseJson(bytes, `${source.what} manifest ${chosen.digest}`);
    if (manifestKind(doc, chosen.mediaType) === 'manifest') return { descriptor: chosen, name };
    const nested: ImageIndex = parseIndex(bytes, `${source.what} index ${chosen.digest}`);
    chosen = pickPlatform(nested.manifests, options.platform, source.what);
  }
  throw new KilnError(ErrorCode.BAD_ARCHIVE, `${source.what}: image indexes nest too deeply`);
}
