import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KilnError } from '../../src/core/index.ts';
import { importImage, openStore, type Store } from '../../src/store/index.ts';
import { scratch, snapshotStore } from '../helpers.ts';
import { makeTar, sha256Of, writeLayoutRaw, type Member } from '../oci-fixture.ts';

// A seeded mutation run over `kiln image import`: tar headers of rootfs tarballs, OCI
// archives and docker-archives, and the JSON documents and layers of an OCI layout.
// Every outcome must be an image or a KilnError; a failure must leave the store as it
// was; nothing may appear outside the store. KILN_MUTATION_SEED / KILN_MUTATION_CASE
// replay a run or one case of it; KILN_MUTATION_DUMP=<path> keeps a copy of the mutant.
const SEED = Number(process.env.KILN_MUTATION_SEED ?? 20261201);
const ONLY = process.env.KILN_MUTATION_CASE === undefined ? undefined : Number(process.env.KILN_MUTATION_CASE);
const CASES = 2000;
/** A case still running after this long is a hang (imports here take milliseconds). */
const HANG_MS = 60_000;

/** mulberry32: a tiny seeded PRNG, one per case so that any case replays alone. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Rng {
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  bytes(n: number): Buffer;
}

function rngFor(caseNo: number): Rng {
  const next = prng(SEED ^ Math.imul(caseNo + 1, 0x9e3779b1));
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
function mutateTar(source: Buffer, rng: Rng): { tar: Buffer; what: string } {
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

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

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

function mutateJson(doc: Json, rng: Rng, digests: readonly string[]): { doc: Json; what: string } {
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
function mutateBytes(data: Buffer, rng: Rng): { data: Buffer; what: string } {
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

interface LayoutFixture {
  dir: string;
  index: Json;
  manifestDigest: string;
  manifest: Json;
  config: Json;
  layers: Buffer[];
  digests: string[];
}

function blobFile(dir: string, digest: string): string {
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
function mutateLayout(base: LayoutFixture, dir: string, rng: Rng): string {
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
function layoutMembers(dir: string): Member[] {
  const members: Member[] = [{ name: 'oci-layout', content: readFileSync(join(dir, 'oci-layout')) }, { name: 'index.json', content: readFileSync(join(dir, 'index.json')) }];
  for (const name of readdirSync(join(dir, 'blobs', 'sha256')).sort()) {
    members.push({ name: `blobs/sha256/${name}`, content: readFileSync(join(dir, 'blobs', 'sha256', name)) });
  }
  return members;
}

// ---- the run -----------------------------------------------------------------------

test('a seeded mutation run: every import of a mutated source ends in an image or a KilnError, a failure leaves the store as it was, nothing lands outside', { timeout: 20 * 60_000 }, async (t) => {
  const dir = scratch(t, 'kiln-mutation');
  const home = join(dir, 'home');
  const canary = join(dir, 'canary');
  mkdirSync(canary);

  // Base fixtures: a rootfs tarball with pax records, links and a symlink out; an OCI
  // layout of a plain and a gzip layer (the second writes through a symlink out, which an
  // import must take as data); the same as an OCI archive and as a docker-archive. They
  // are the same bytes on every run (the symlinks out are relative), so a case replays.
  const out = '../../../../../../../../canary';
  const deep = `usr/share/${'d'.repeat(160)}`;
  const rootfsMembers: Member[] = [
    { name: 'etc', type: 'directory' }, { name: 'etc/os-release', content: 'ID=debian\n' }, { name: 'usr', type: 'directory' },
    { name: `${deep}/file`, content: 'deep\n' }, { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'etc/os-release.link', type: 'link', linkname: 'etc/os-release' }, { name: 'escape', type: 'symlink', linkname: out },
    { name: 'etc/long-link', type: 'symlink', linkname: `${deep}/file` }, { name: 'etc/hostname', content: 'node\n' },
  ];
  const rootfs = await makeTar(rootfsMembers);
  const upperTar = await makeTar([{ name: 'escape', type: 'symlink', linkname: out }, { name: 'escape/pwned', content: 'x' }, { name: 'etc/hostname', content: 'up\n' }]);
  const upper = gzipSync(upperTar);
  const layoutDir = join(dir, 'layout');
  const manifestDigest = writeLayoutRaw(layoutDir, [
    { blob: rootfs, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
    { blob: upper, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
  ], [sha256Of(rootfs), sha256Of(upperTar)], 'mutant:1');
  const manifestJson = JSON.parse(readFileSync(blobFile(layoutDir, manifestDigest), 'utf8')) as Json & { config: { digest: string } };
  const layout: LayoutFixture = {
    dir: layoutDir,
    index: JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as Json,
    manifestDigest,
    manifest: manifestJson,
    config: JSON.parse(readFileSync(blobFile(layoutDir, manifestJson.config.digest), 'utf8')) as Json,
    layers: [rootfs, upper],
    digests: readdirSync(join(layoutDir, 'blobs', 'sha256')).map((h) => `sha256:${h}`),
  };
  const ociArchive = await makeTar(layoutMembers(layoutDir));
  const dockerConfig = readFileSync(blobFile(layoutDir, manifestJson.config.digest));
  const dockerManifest: Json = [{ Config: 'config.json', RepoTags: ['mutant:1'], Layers: ['shared.tar', 'bbb.tar.gz'] }];
  const dockerWith = (manifest: Buffer | string): Promise<Buffer> => makeTar([
    { name: 'aaa', type: 'directory' }, { name: 'aaa/layer.tar', content: rootfs }, { name: 'bbb.tar.gz', content: upper },
    { name: 'shared.tar', type: 'symlink', linkname: 'aaa/layer.tar' }, { name: 'config.json', content: dockerConfig },
    { name: 'manifest.json', content: manifest },
  ]);
  const dockerArchive = await dockerWith(JSON.stringify(dockerManifest));
  const tars = { rootfs, 'oci-archive': ociArchive, 'docker-archive': dockerArchive };

  const store: Store = openStore({ home, user: 'alice' });
  t.after(() => store.close());
  // The store starts with the base images, so that mutants also meet blobs already stored.
  for (const [name, source] of [['base-oci', layoutDir], ['base-rootfs', join(dir, 'base.tar')]] as const) {
    if (name === 'base-rootfs') writeFileSync(source, rootfs);
    await importImage(store, source, { name });
  }
  const outside = (): string => JSON.stringify([readdirSync(dir).sort(), readdirSync(canary)]);
  const outsideBefore = outside();
  const state = (): string => `${snapshotStore(home)}\n${JSON.stringify(store.listImages())}`;
  // Comparing the whole store around every case would cost more than the imports: every
  // SAMPLE-th case is compared, against the state just before it (kept while imports fail).
  const SAMPLE = 5;
  let before: string | undefined = state();
  const outcomes = new Map<string, number>();

  for (let i = 0; i < CASES; i++) {
    if (ONLY !== undefined && i !== ONLY) continue;
    const rng = rngFor(i);
    const work = join(dir, `case-${i}`);
    let source: string;
    let what: string;
    if (i % 10 === 8) {
      const m = mutateJson(dockerManifest, rng, ['config.json', 'shared.tar', 'bbb.tar.gz', 'aaa/layer.tar', 'aaa', '../x', '/etc/passwd']);
      source = `${work}.tar`;
      writeFileSync(source, await dockerWith(JSON.stringify(m.doc)));
      what = `docker-archive manifest.json: ${m.what}`;
    } else if (i % 2 === 0) {
      const kind = rng.pick(['rootfs', 'rootfs', 'oci-archive', 'docker-archive'] as const);
      const m = mutateTar(tars[kind], rng);
      source = `${work}.tar`;
      writeFileSync(source, m.tar);
      what = `${kind} ${m.what}`;
      if (kind === 'rootfs' && rng.chance(0.3)) {
        // A gzip rootfs: the mutated tar inside, and sometimes the gzip stream itself damaged.
        let packed: Buffer = gzipSync(m.tar);
        what += ', gzipped';
        if (rng.chance(0.5)) {
          const b = mutateBytes(packed, rng);
          packed = b.data;
          what += `, gzip ${b.what}`;
        }
        writeFileSync(source, packed);
      }
    } else {
      what = `oci ${mutateLayout(layout, work, rng)}`;
      source = work;
      if (rng.chance(0.25)) {
        source = `${work}.tar`;
        writeFileSync(source, await makeTar(layoutMembers(work)));
        what += ' (as an OCI archive)';
      }
    }
    const label = `seed ${SEED} case ${i} (${what})`;
    if (process.env.KILN_MUTATION_DUMP) cpSync(source, process.env.KILN_MUTATION_DUMP, { recursive: true });
    const sampled = i % SAMPLE === 1 || ONLY !== undefined;
    if (sampled) before ??= state();
    const labels = rng.chance(0.3) ? { 'walt.node.models': 'rpi-3-b' } : undefined;
    // Without a name, it is derived from the (mutated) source: its ref.name or docker tag.
    const name = rng.chance(0.7) ? 'mutant' : undefined;
    const selector = rng.chance(0.2) ? rng.pick(['mutant:1', '1', 'nothing']) : undefined;
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hang: ${label}`)), HANG_MS);
    });
    let outcome: string;
    try {
      await Promise.race([importImage(store, source, { name, selector, force: true, ...(labels ? { labels } : {}) }), hang]);
      outcome = 'imported';
    } catch (err) {
      if (!(err instanceof KilnError)) assert.fail(`${label}: threw ${(err as Error).stack ?? String(err)}`);
      assert.ok(err.hint.length > 0, `${label}: ${err.code} without a hint`);
      outcome = err.code;
    } finally {
      clearTimeout(timer);
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (outcome === 'imported') before = undefined;
    else if (sampled) assert.equal(state(), before as string, `${label}: a failed import changed the store`);
    rmSync(work, { recursive: true, force: true });
    rmSync(`${work}.tar`, { force: true });
    assert.equal(outside(), outsideBefore, `${label}: something appeared outside the store`);
  }

  t.diagnostic(`seed ${SEED}: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  const report = await store.verify();
  assert.ok(report.ok, JSON.stringify(report));
  assert.ok((outcomes.get('imported') ?? 0) > 0 || ONLY !== undefined, 'some mutants are still valid images');
});
