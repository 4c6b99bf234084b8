import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KilnError } from '../../src/core/index.ts';
import { importImage, openStore, type Store } from '../../src/store/index.ts';
import { scratch, snapshotStore } from '../helpers.ts';
import { makeTar, sha256Of, writeLayoutRaw, type Member } from '../oci-fixture.ts';
import { blobFile, layoutMembers, mutateBytes, mutateJson, mutateLayout, mutateTar, rngFor, type Json, type LayoutFixture } from '../mutators.ts';

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

  const store: Store = openStore({ home });
  t.after(() => store.close());
  // The store starts with the base images, so that mutants also meet blobs already stored.
  for (const [name, source] of [['base-oci', layoutDir], ['base-rootfs', join(dir, 'base.tar')]] as const) {
    if (name === 'base-rootfs') writeFileSync(source, rootfs);
    const { record } = await importImage(store, source, { user: 'alice', name });
    if (name === 'base-oci') assert.equal(record.manifestDigest, manifestDigest, 'an OCI layout with right diff_ids is stored byte for byte');
  }
  // The same layout as an OCI archive and as a docker-archive imports too (the diff_ids match).
  for (const [format, bytes] of [['oci-archive', ociArchive], ['docker-archive', dockerArchive]] as const) {
    writeFileSync(join(dir, 'base-archive.tar'), bytes);
    await importImage(store, join(dir, 'base-archive.tar'), { user: 'alice', name: `base-${format}` });
    rmSync(join(dir, 'base-archive.tar'));
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
    const rng = rngFor(SEED, i);
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
      await Promise.race([importImage(store, source, { user: 'alice', name, selector, force: true, ...(labels ? { labels } : {}) }), hang]);
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
