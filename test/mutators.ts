import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Of, type Member } from './oci-fixture.ts';

// Seeded mutations of image sources, for the import mutation run: tar headers and pax
// records, JSON documents (index, manifest, config, docker manifest.json) and layer bytes.

/** mulberry32: a tiny seeded PRNG, one per case so that any case replays alone. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random choices of one case. */
export interface Rng {
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  bytes(n: number): Buffer;
}

/** The PRNG of case `caseNo` of the run seeded `seed`. */
export function rngFor(seed: number, caseNo: number): Rng {
  const next = prng(seed ^ Math.imul(caseNo + 1, 0x9e3779b1));
  const int = (n: number): number => Math.floor(next() * n);
  return {
    int,
    pick: (items) => items[int(items.length)] as (typeof items)[number],
    chance: (p) => next() < p,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
  };
}

// ---- tar header mutations ----------------------------------------------------------

const BLOCK = 512;
const NASTY_NAMES = ['../../kiln-mutant', '/etc/kiln-mutant', 'a/../../b', '', '.', './', 'escape/pwned', 'escape', 'bin/../..', 'manifest.json', 'index.json', 'blobs/sha256/00', 'x'.repeat(100)];

/** Offsets of the header blocks of a tar, with their type flags. */
function tarHeaders(tar: Buffer): Array<{ offset: number; flag: string }> {
  const found: Array<{ offset: number; flag: string }> = [];
  for (let off = 0; off + BLOCK <= tar.length;) {
    const block = tar.subarray(off, off + BLOCK);
    if (block.every((b) => b === 0)) break;
    const size = parseInt(block.subarray(124, 136).toString('latin1').replace(/\0.*$/su, '').trim() || '0', 8);
    found.push({ offset: off, flag: String.fromCharCode(block[156] ?? 0) });
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return found;
}

function writeField(tar: Buffer, at: number, length: number, value: Buffer | string): void {
  const data = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  tar.fill(0, at, at + length);
  data.copy(tar, at, 0, Math.min(length, data.length));
}

function fixChecksum(tar: Buffer, header: number): void {
  tar.fill(0x20, header + 148, header + 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += tar[header + i] ?? 0;
  writeField(tar, header + 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
}

/** Mutates one header (or pax record) of a tar; returns what it did. */
export function mutateTar(source: Buffer, rng: Rng): { tar: Buffer; what: string } {
  const tar = Buffer.from(source);
  const headers = tarHeaders(tar);
  const h = rng.pick(headers);
  const at = h.offset;
  const op = rng.int(8);
  let what: string;
  switch (op) {
    case 0: {
      const i = rng.int(BLOCK);
      tar[at + i] = (tar[at + i] ?? 0) ^ (1 + rng.int(255));
      what = `flip byte ${i}`;
      break;
    }
    case 1: {
      const size = rng.pick([
        () => rng.int(4096).toString(8),
        () => Math.floor(2 ** (rng.int(40))).toString(8),
        () => '77777777777',
        () => rng.bytes(12).toString('latin1'),
        () => `\x80${rng.bytes(11).toString('latin1')}`,
        () => '           ',
        () => '-1',
      ])();
      writeField(tar, at + 124, 12, size);
      what = `size ${JSON.stringify(size)}`;
      break;
    }
    case 2: {
      const flag = rng.pick(['0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'D', 'V', '\0', String.fromCharCode(rng.int(256))]);
      tar[at + 156] = flag.charCodeAt(0);
      what = `type ${JSON.stringify(flag)}`;
      break;
    }
    case 3:
    case 4: {
      const value = rng.chance(0.8) ? rng.pick(NASTY_NAMES) : rng.bytes(1 + rng.int(100)).toString('latin1');
      writeField(tar, at + (op === 3 ? 0 : 157), 100, value);
      what = `${op === 3 ? 'name' : 'linkname'} ${JSON.stringify(value)}`;
      break;
    }
    case 5: {
      const pax = headers.find((x) => x.flag === 'x');
      if (!pax) {
        tar[at + 345] = rng.int(256); // the ustar prefix
        what = 'prefix byte';
        break;
      }
      const record = rng.pick([
        '30 path=../../kiln-mutant-pax\n', '21 linkpath=/etc/x\n', '999 path=a\n', '0 path=\n', '12 size=-5\n',
        '25 size=99999999999999\n', 'garbage without length\n', '8 path\n',
      ]);
      const data = at === pax.offset ? pax.offset + BLOCK : pax.offset + BLOCK;
      writeField(tar, data + rng.int(64), record.length, record);
      what = `pax record ${JSON.stringify(record)}`;
      break;
    }
    case 6: {
      const field = rng.pick([[100, 8], [108, 8], [116, 8], [136, 12], [257, 6], [263, 2], [329, 8], [337, 8]] as const);
      writeField(tar, at + field[0], field[1], rng.bytes(field[1]));
      what = `field at ${field[0]}`;
      break;
    }
    default: {
      if (rng.chance(0.5)) {
        const cut = rng.int(tar.length);
        return { tar: tar.subarray(0, cut), what: `truncated at ${cut}` };
      }
      return { tar: Buffer.concat([tar, rng.bytes(1 + rng.int(2048))]), what: 'garbage appended' };
    }
  }
  const fixed = rng.chance(0.5);
  if (fixed) fixChecksum(tar, at);
  return { tar, what: `header at ${at}: ${what}${fixed ? ' (checksum fixed)' : ''}` };
}

// ---- OCI layout mutations ----------------------------------------------------------

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const MEDIA_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.config.v1+json',
  'application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'text/plain',
];

/** Every path into a JSON value. */
function jsonPaths(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => jsonPaths(v, [...prefix, i])));
  if (value !== null && typeof value === 'object') return here.concat(...Object.entries(value).map(([k, v]) => jsonPaths(v, [...prefix, k])));
  return here;
}

function randomValue(rng: Rng, digests: readonly string[]): Json {
  return rng.pick<() => Json>([
    () => null, () => 0, () => -1, () => 1e300, () => 2 ** 53 + 2, () => 0.5, () => '', () => true, () => [], () => ({}),
    () => 'x'.repeat(1 + rng.int(70_000)), () => `sha256:${rng.bytes(32).toString('hex')}`, () => rng.pick(digests),
    () => 'sha256:../../../etc/passwd', () => '../../etc/passwd', () => rng.pick(MEDIA_TYPES),
    () => ({ mediaType: rng.pick(MEDIA_TYPES), digest: rng.pick(digests), size: rng.int(5000) }),
    () => JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`) as Json,
  ])();
}

/** Mutates one place of a JSON document: deletes, duplicates, adds or replaces a value. */
export function mutateJson(doc: Json, rng: Rng, digests: readonly string[]): { doc: Json; what: string } {
  const copy = structuredClone(doc);
  const paths = jsonPaths(copy);
  const path = rng.pick(paths);
  if (path.length === 0) return { doc: randomValue(rng, digests), what: 'whole document replaced' };
  let parent: Json = copy;
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[key] as Json;
  const key = path[path.length - 1] as string | number;
  const holder = parent as Record<string | number, Json>;
  const op = rng.int(4);
  if (op === 0) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete holder[key];
    return { doc: copy, what: `deleted ${path.join('.')}` };
  }
  if (op === 1 && Array.isArray(parent)) {
    parent.push(structuredClone(parent[key as number] as Json));
    return { doc: copy, what: `duplicated ${path.join('.')}` };
  }
  if (op === 2 && !Array.isArray(parent)) {
    holder[rng.pick(['mediaType', 'digest', 'size', 'manifests', 'layers', 'config', 'rootfs', 'diff_ids', 'urls', 'platform', '__proto__'])] = randomValue(rng, digests);
    return { doc: copy, what: `key added beside ${path.join('.')}` };
  }
  holder[key] = randomValue(rng, digests);
  return { doc: copy, what: `${path.join('.')} replaced` };
}

/** Mutates bytes of a document or blob: flip, cut or grow. */
export function mutateBytes(data: Buffer, rng: Rng): { data: Buffer; what: string } {
  const copy = Buffer.from(data);
  const op = rng.int(3);
  if (op === 0 && copy.length > 0) {
    const i = rng.int(copy.length);
    copy[i] = (copy[i] ?? 0) ^ (1 + rng.int(255));
    return { data: copy, what: `byte ${i} flipped` };
  }
  if (op === 1) {
    const cut = rng.int(copy.length + 1);
    return { data: copy.subarray(0, cut), what: `cut at ${cut}` };
  }
  return { data: Buffer.concat([copy, rng.bytes(1 + rng.int(600))]), what: 'bytes appended' };
}

/** The base OCI layout, with its documents parsed. */
export interface LayoutFixture {
  dir: string;
  index: Json;
  manifestDigest: string;
  manifest: Json;
  config: Json;
  layers: Buffer[];
  digests: string[];
}

/** The file of a blob in a layout directory. */
export function blobFile(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/u, ''));
}

/** Writes `data` as a blob of the layout in `dir`; returns its descriptor fields. */
function putBlob(dir: string, data: Buffer | string): { digest: string; size: number } {
  const digest = sha256Of(data);
  writeFileSync(blobFile(dir, digest), data);
  return { digest, size: Buffer.byteLength(data) };
}

/**
 * Mutates a copy of the layout in `dir`: one of index.json, the manifest, the config or a
 * layer. Half the time a changed blob is re-addressed (new digest, parents updated), so
 * that the mutation gets past the digest checks into the code behind them.
 */
export function mutateLayout(base: LayoutFixture, dir: string, rng: Rng): string {
  cpSync(base.dir, dir, { recursive: true });
  const target = rng.pick(['index', 'manifest', 'manifest', 'config', 'config', 'layer'] as const);
  const consistent = rng.chance(0.5);
  const asBytes = (doc: Json): Buffer => Buffer.from(JSON.stringify(doc));
  const mutated = (doc: Json): { data: Buffer; what: string } => {
    if (rng.chance(0.75)) {
      const m = mutateJson(doc, rng, base.digests);
      return { data: asBytes(m.doc), what: m.what };
    }
    return mutateBytes(asBytes(doc), rng);
  };
  const writeIndexFor = (manifest: { digest: string; size: number }): void => {
    const index = structuredClone(base.index) as { manifests: Array<Record<string, Json>> };
    Object.assign(index.manifests[0] as object, manifest);
    writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  };
  const writeManifest = (manifest: Json): void => writeIndexFor(putBlob(dir, asBytes(manifest)));
  if (target === 'index') {
    const m = mutated(base.index);
    writeFileSync(join(dir, 'index.json'), m.data);
    return `index.json: ${m.what}`;
  }
  if (target === 'manifest') {
    const m = mutated(base.manifest);
    if (consistent) writeIndexFor(putBlob(dir, m.data));
    else writeFileSync(blobFile(dir, base.manifestDigest), m.data);
    return `manifest: ${m.what}${consistent ? ' (re-addressed)' : ''}`;
  }
  const manifest = structuredClone(base.manifest) as { config: Record<string, Json>; layers: Array<Record<string, Json>> };
  if (target === 'config') {
    const m = mutated(base.config);
    if (consistent) {
      Object.assign(manifest.config, putBlob(dir, m.data));
      writeManifest(manifest as unknown as Json);
    } else writeFileSync(blobFile(dir, manifest.config.digest as string), m.data);
    return `config: ${m.what}${consistent ? ' (re-addressed)' : ''}`;
  }
  const i = rng.int(base.layers.length);
  const layer = base.layers[i] as Buffer;
  const m = i === 0 && rng.chance(0.5) ? (() => {
    const t = mutateTar(layer, rng);
    return { data: t.tar, what: t.what };
  })() : mutateBytes(layer, rng);
  if (consistent) {
    Object.assign(manifest.layers[i] as object, putBlob(dir, m.data));
    writeManifest(manifest as unknown as Json);
  } else writeFileSync(blobFile(dir, manifest.layers[i]?.digest as string), m.data);
  return `layer ${i}: ${m.what}${consistent ? ' (re-addressed)' : ''}`;
}

/** The files of a layout directory as tar members (an OCI archive). */
export function layoutMembers(dir: string): Member[] {
  const members: Member[] = [{ name: 'oci-layout', content: readFileSync(join(dir, 'oci-layout')) }, { name: 'index.json', content: readFileSync(join(dir, 'index.json')) }];
  for (const name of readdirSync(join(dir, 'blobs', 'sha256')).sort()) {
    members.push({ name: `blobs/sha256/${name}`, content: readFileSync(join(dir, 'blobs', 'sha256', name)) });
  }
  return members;
}

