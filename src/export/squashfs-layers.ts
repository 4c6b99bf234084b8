import { mkdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, writeFileReplacing, type Digest } from '../core/index.ts';

/** Where one regular file member's data went in an earlier export: its full blocks and its tail. */
export interface FileRecord {
  size: number;
  /** Block cache keys of the full blocks, in order. */
  keys: string[];
  /**
   * The tail: inside the fragment block with this key, at this offset. `hash`: the file's
   * sha256 when it is one tail; `sum`: the tail's sha256; `fragmentSize`: the raw size of
   * that fragment block (records of earlier versions lack the last two).
   */
  tail?: { fragment: string; offset: number; length: number; hash?: string | undefined; sum?: string | undefined; fragmentSize?: number | undefined } | undefined;
}

/** What an export learnt about one tar member of a layer (by its header offset in the decompressed layer). */
export interface MemberRecord {
  mtime: number;
  major?: number | undefined;
  minor?: number | undefined;
  file?: FileRecord | undefined;
}

/** One layer's record: the members of it earlier exports wrote, by offset. */
export interface LayerRecord {
  version: 1;
  members: Record<string, MemberRecord>;
}

/** Per-layer records of one compressor, level and block size: a JSON file per layer digest, written by rename. */
export interface LayerRecords {
  read(digest: Digest): Promise<LayerRecord | undefined>;
  write(digest: Digest, record: LayerRecord): Promise<void>;
}

/** The records kept in `dir` (one file per layer, `<hex>.json`); reading one marks it used (mtime). */
export function createLayerRecords(dir: string): LayerRecords {
  const path = (digest: Digest): string => join(dir, `${digest.slice(digest.indexOf(':') + 1)}.json`);
  return {
    read: async (digest) => {
      let text: string;
      try {
        text = await readFile(path(digest), 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      }
      let record: LayerRecord;
      try {
        record = JSON.parse(text) as LayerRecord;
      } catch (err) {
        // A torn or foreign file is no record: the layer is read again and the record rewritten.
        if (err instanceof SyntaxError) return undefined;
        throw err;
      }
      if (record.version !== 1 || typeof record.members !== 'object') return undefined;
      const now = new Date();
      await utimes(path(digest), now, now).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
      return record;
    },
    write: async (digest, record) => {
      await mkdir(dir, { recursive: true });
      await writeFileReplacing(path(digest), JSON.stringify(record));
    },
  };
}

/** Every block cache key a record's members need (data blocks and fragment blocks). */
export function recordKeys(record: LayerRecord, offsets?: Iterable<number>): Set<string> {
  const keys = new Set<string>();
  const members = offsets ? [...offsets].map((o) => record.members[String(o)]) : Object.values(record.members);
  for (const m of members) {
    for (const k of m?.file?.keys ?? []) keys.add(k);
    if (m?.file?.tail) keys.add(m.file.tail.fragment);
  }
  return keys;
}
