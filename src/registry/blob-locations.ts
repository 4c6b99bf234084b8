import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno, writeFileAtomic, type Digest } from '../core/index.ts';

/**
 * Which repository of a registry last held a blob, remembered across commands so that a
 * push can mount a blob from another repository instead of uploading it again. Only a
 * hint: a wrong or stale entry costs one refused mount, then an upload.
 */
export interface BlobLocations {
  find(registry: string, digest: Digest, exceptRepo: string): string | undefined;
  note(registry: string, repo: string, digests: readonly Digest[]): void;
  save(): Promise<void>;
}

type Doc = Record<string, Record<string, string>>;

const MAX_PER_REGISTRY = 20_000;

/** Loads the hints of `blob-locations.json` in `dir` (absent or unreadable: none). */
export async function loadBlobLocations(dir: string): Promise<BlobLocations> {
  const path = join(dir, 'blob-locations.json');
  let doc: Doc = {};
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) doc = parsed as Doc;
  } catch (err) {
    // A missing or damaged hint file only means no mounts are tried.
    if (!isErrno(err, 'ENOENT') && !(err instanceof SyntaxError)) throw err;
  }
  let dirty = false;
  return {
    find: (registry, digest, exceptRepo) => {
      const repo = doc[registry]?.[digest];
      return repo !== undefined && repo !== exceptRepo ? repo : undefined;
    },
    note: (registry, repo, digests) => {
      const entries = { ...(doc[registry] ?? {}) };
      for (const d of digests) {
        delete entries[d]; // re-insert: insertion order is age
        entries[d] = repo;
      }
      const keys = Object.keys(entries);
      for (const k of keys.slice(0, Math.max(0, keys.length - MAX_PER_REGISTRY))) delete entries[k];
      doc = { ...doc, [registry]: entries };
      dirty = true;
    },
    save: async () => {
      if (!dirty) return;
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomic(path, JSON.stringify(doc));
      dirty = false;
    },
  };
}
