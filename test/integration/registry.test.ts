import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, kilnFor, makeRootfsDir, scratch, sh, snapshotStore, tarDir } from '../helpers.ts';
import { freePort, startRegistry, writeKilnYaml } from '../registry-servers.ts';
import { createTransport, listCatalog, listTags } from '../../src/registry/index.ts';

interface Hit { user: string; name: string; tag: string; location: string; models: string[]; cloneUrl?: string; minVersion: number }
interface Search { images: Hit[]; unreachable: Array<{ location: string; code: string; message: string; hint: string }> }

/** A plain registry, a kiln.yaml naming it three ways, and alice's node image in a shared store. */
async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t, 'kiln-reg');
  const reg = await startRegistry(t, dir, { kind: 'none' });
  const closed = await freePort();
  const config = writeKilnYaml(dir, [
    { label: 'local', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'none' },
    { label: 'art', api: 'jfrog-artifactory', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'none', repository: 'docker-local' },
    { label: 'down', api: 'docker-registry-v2', host: '127.0.0.1', port: closed, protocol: 'http' },
    { api: 'docker-hub', host: '127.0.0.1', port: reg.port, protocol: 'http' },
  ]);
  const home = join(dir, 'home');
  const env = { KILN_CONFIG: config, DOCKER_HOST: `unix://${join(dir, 'no-docker.sock')}` };
  const alice = (args: readonly string[]) => kilnFor(home, 'alice')(args, env);
  const bob = (args: readonly string[]) => kilnFor(home, 'bob')(args, env);
  const carolHome = join(dir, 'carol-home');
  const carol = (args: readonly string[]) => kilnFor(carolHome, 'carol')(args, env);
  const rootfs = tarDir(makeRootfsDir(dir), join(dir, 'rootfs.tar.gz'), 'gzip');
  const imported = await alice(['image', 'import', rootfs, 'rpi-debian', '--label', 'walt.node.models=rpi-3-b,rpi-4-b']);
  assert.equal(imported.code, 0, imported.stderr);
  const digest = json<{ digest: string }>(await alice(['image', 'inspect', 'rpi-debian', '--json'])).digest;
  return { dir, reg, home, carolHome, alice, bob, carol, rootfs, digest, env };
}

test('publish, search and clone through a plain v2 registry; skopeo reads what kiln pushed and kiln clones what skopeo pushed', async (t) => {
  const { dir, reg, alice, carol, carolHome, digest } = await setup(t);
  // The test image cannot boot (no busybox, no kernel...): publish refuses it unless --force.
  const refused = await alice(['image', 'publish', 'rpi-debian', '--registry', 'local']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\[CHECK_FAILED\]: alice\/rpi-debian:latest fails the bootability check: check: NOT bootable/);
  assert.match(refused.stderr, /--force/);
  const published = await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'local']);
  assert.equal(published.code, 0, published.stderr);
  assert.match(published.stderr, /although it fails the bootability check/);
  assert.match(published.stdout, /^Clone URL: local:alice\/rpi-debian$/m);

  // An independent client pulls it with the same manifest digest.
  const layout = join(dir, 'skopeo-layout');
  sh('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/alice/rpi-debian:latest`, `oci:${layout}:copy`]);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  assert.equal(index.manifests[0]?.digest, digest, 'skopeo sees the digest kiln has');

  // Another store clones it: same digest, store verifies.
  const cloned = await carol(['image', 'clone', 'local:alice/rpi-debian', '--json']);
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.equal(json<{ digest: string }>(cloned).digest, digest);
  assert.equal(json<{ check: { ok: boolean } }>(cloned).check.ok, false, 'clone reports the check verdict');
  assert.equal((await carol(['store', 'verify'])).code, 0);

  // skopeo pushes (OCI as is, and converted to Docker schema2); kiln clones both.
  sh('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:copy`, `docker://${reg.host}/dave/from-skopeo:v1`]);
  sh('skopeo', ['copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:copy`, `docker://${reg.host}/dave/docker-format:v1`]);
  const v2s2 = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/dave/docker-format:v1`])) as { Digest: string };
  const oci = json<{ digest: string; sourceDigest: string }>(await carol(['image', 'clone', 'local:dave/from-skopeo:v1', '--json']));
  assert.equal(oci.digest, digest, 'an OCI manifest is kept byte for byte');
  const docker = json<{ digest: string; sourceDigest: string; downloaded: number }>(await carol(['image', 'clone', 'local:dave/docker-format:v1', 'converted', '--json']));
  assert.equal(docker.sourceDigest, v2s2.Digest);
  assert.equal(docker.downloaded, 0, 'blobs already in the store are not downloaded again');
  const inspected = json<{ manifest: { mediaType: string } }>(await carol(['image', 'inspect', 'converted', '--json']));
  assert.equal(inspected.manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json', 'Docker schema2 is stored as OCI');
  assert.equal((await carol(['store', 'verify'])).code, 0);
  assert.ok(readdirSync(join(carolHome, 'tmp', 'registry-blobs')).length === 0, 'committed blobs left the pull cache');
});

test('search lists every location, marks images that need a newer server, and reports the unreachable one', async (t) => {
  const { alice, bob, rootfs } = await setup(t);
  assert.equal((await alice(['image', 'import', rootfs, 'future', '--label', 'walt.node.models=pc-x86-64', '--label', 'walt.server.minversion=99'])).code, 0);
  for (const [image, registry] of [['rpi-debian', 'local'], ['rpi-debian', 'art'], ['future', 'local'], ['rpi-debian', 'hub']]) {
    const r = await alice(['image', 'publish', '--force', image as string, '--registry', registry as string]);
    assert.equal(r.code, 0, r.stderr);
  }
  const result = await bob(['image', 'search', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const { images, unreachable } = json<Search>(result);
  const urls = images.map((h) => h.cloneUrl ?? `(none for ${h.location}:${h.user}/${h.name})`).sort();
  assert.deepEqual(urls, [
    '(none for local:alice/future)', '(none for walt:alice/future)',
    'art:alice/rpi-debian', 'hub:alice/rpi-debian', 'local:alice/rpi-debian', 'walt:alice/rpi-debian',
  ]);
  assert.deepEqual(unreachable.map((u) => [u.location, u.code]).sort(), [['docker', 'NETWORK'], ['down', 'NETWORK']]);
  assert.match(result.stderr, /warning: down: skipped: down: cannot reach/);
  const table = await bob(['image', 'search', 'rpi']);
  assert.match(table.stdout, /^User\s+Image name\s+Location\s+Compatibility\s+Clonable link$/m);
  assert.match(table.stdout, /^alice\s+rpi-debian\s+art registry\s+rpi-3-b,rpi-4-b\s+art:alice\/rpi-debian$/m);
  assert.doesNotMatch(table.stdout, /future/, 'the keyword filters');
  assert.match((await bob(['image', 'search', 'future'])).stdout, /\[needs a newer server: walt\.server\.minversion=99\]/);
  // Alice's own images are hers, not search results from walt:.
  assert.ok(!json<Search>(await alice(['image', 'search', '--json'])).images.some((h) => h.location === 'walt'));
});

test('Artifactory naming puts the repository key first; the hub api keeps walt_metadata', async (t) => {
  const { reg, alice } = await setup(t);
  assert.equal((await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'art'])).code, 0);
  const art = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/docker-local/alice/rpi-debian:latest`])) as { Labels: Record<string, string> };
  assert.equal(art.Labels['walt.node.models'], 'rpi-3-b,rpi-4-b');
  assert.equal((await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'hub'])).code, 0);
  const meta = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/alice/walt_metadata:latest`])) as { Labels: Record<string, string> };
  const images = (JSON.parse(Buffer.from(meta.Labels.metadata as string, 'base64').toString('utf8')) as { 'walt.user.images': Record<string, { labels: Record<string, string> }> })['walt.user.images'];
  assert.deepEqual(Object.keys(images), ['alice/rpi-debian:latest']);
  assert.equal(images['alice/rpi-debian:latest']?.labels['walt.node.models'], 'rpi-3-b,rpi-4-b');
});

test('catalog and tag lists follow Link pagination', async (t) => {
  const { reg, alice } = await setup(t);
  for (const tag of ['a', 'b', 'c']) {
    assert.equal((await alice(['image', 'duplicate', 'rpi-debian', `rpi-debian:${tag}`])).code, 0);
    assert.equal((await alice(['image', 'publish', '--force', `rpi-debian:${tag}`, '--registry', 'local'])).code, 0);
  }
  assert.equal((await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'art'])).code, 0);
  const transport = createTransport({ label: 'local', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'none' });
  const repos: string[] = [];
  for await (const r of listCatalog(transport, undefined, 1)) repos.push(r);
  assert.deepEqual(repos, ['alice/rpi-debian', 'docker-local/alice/rpi-debian']);
  const tags: string[] = [];
  for await (const tag of listTags(transport, 'alice/rpi-debian', undefined, 1)) tags.push(tag);
  assert.deepEqual(tags.sort(), ['a', 'b', 'c']);
});

test('clone failures say what is wrong and leave the store as it was', async (t) => {
  const { reg, alice, bob, home, env } = await setup(t);
  assert.equal((await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'local'])).code, 0);
  assert.equal((await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'art'])).code, 0);
  const before = snapshotStore(home);
  const cases: Array<[string, string[], number, RegExp, RegExp]> = [
    ['unknown label', ['image', 'clone', 'nowhere:alice/rpi-debian'], 1, /\[CONFIG\]: unknown location "nowhere"/, /hint: known locations: walt, docker, local, art, down, hub/],
    ['bad URL form', ['image', 'clone', 'local:rpi-debian'], 2, /\[USAGE\]: invalid clone URL/, /hint: a clone URL is walt:user\/name\[:tag\]/],
    ['unreachable registry', ['image', 'clone', 'down:alice/rpi-debian'], 1, /\[NETWORK\]: down: cannot reach http:\/\/127\.0\.0\.1:\d+/, /hint: check that the server is running/],
    ['no such image', ['image', 'clone', 'local:alice/missing'], 1, /\[NOT_FOUND\]: local: manifest alice\/missing:latest: not found \(MANIFEST_UNKNOWN|NAME_UNKNOWN/, /hint: check the clone URL/],
    ['no such tag', ['image', 'clone', 'art:alice/rpi-debian:nope'], 1, /\[NOT_FOUND\]: art: manifest docker-local\/alice\/rpi-debian:nope/, /hint/],
    ['unknown registry to publish to', ['image', 'publish', '--force', 'alice/rpi-debian', '--registry', 'nope'], 2, /\[INVALID_NAME\]: alice\/rpi-debian:latest belongs to alice/, /kiln image duplicate/],
  ];
  for (const [name, args, code, message, hint] of cases) {
    const r = await bob(args);
    assert.equal(r.code, code, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.match(r.stderr, hint, name);
  }
  // --force: refused without, done with it.
  assert.equal((await bob(['image', 'clone', 'local:alice/rpi-debian', 'mine'])).code, 0);
  const again = await bob(['image', 'clone', 'art:alice/rpi-debian', 'mine']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[ALREADY_EXISTS\]: image bob\/mine:latest already exists\n {2}hint: .*--force/);
  assert.equal((await bob(['image', 'clone', 'art:alice/rpi-debian', 'mine', '--force'])).code, 0);
  assert.equal((await bob(['store', 'verify'])).code, 0);
  assert.notEqual(snapshotStore(home), before);

  // Corrupt the registry's copy: the manifest, then a layer; nothing lands in the store.
  const carolHome = join(home, '..', 'carol-home-2');
  const carol = (args: readonly string[]) => kilnFor(carolHome, 'carol')(args, env);
  assert.equal((await carol(['image', 'clone', 'local:alice/rpi-debian', 'first'])).code, 0);
  const other = tarDir(makeRootfsDir(join(home, '..'), 'other'), join(home, '..', 'other.tar'));
  assert.equal((await alice(['image', 'import', other, 'other', '--label', 'walt.node.models=rpi-3-b'])).code, 0);
  assert.equal((await alice(['image', 'publish', '--force', 'other', '--registry', 'local'])).code, 0);
  const otherDigest = json<{ digest: string }>(await alice(['image', 'inspect', 'other', '--json'])).digest;
  const blobData = (d: string): string => join(reg.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', d.slice(7, 9), d.slice(7), 'data');
  const manifestFile = blobData(otherDigest);
  const manifestText = readFileSync(manifestFile, 'utf8');
  const manifest = JSON.parse(manifestText) as { layers: Array<{ digest: string }> };
  const layerFile = blobData(manifest.layers[0]?.digest as string);
  const snapshot = snapshotStore(carolHome);
  writeFileSync(manifestFile, manifestText.replace('"schemaVersion":2', '"schemaVersion": 2'));
  const badManifest = await carol(['image', 'clone', 'local:alice/other']);
  assert.equal(badManifest.code, 1);
  assert.match(badManifest.stderr, /\[DIGEST_MISMATCH\]: local: manifest alice\/other:latest hashes to sha256:\w+, the registry says sha256:/);
  writeFileSync(manifestFile, manifestText);
  const layer = readFileSync(layerFile);
  layer.writeUInt8((layer.at(-1) ?? 0) ^ 0xff, layer.length - 1);
  writeFileSync(layerFile, layer);
  const badLayer = await carol(['image', 'clone', 'local:alice/other']);
  assert.equal(badLayer.code, 1);
  assert.match(badLayer.stderr, /\[DIGEST_MISMATCH\]: blob sha256:\w+: content digest is sha256:\w+, expected sha256:/);
  assert.deepEqual(json<Array<{ name: string }>>(await carol(['image', 'show', '--json'])).map((i) => i.name), ['first']);
  const verified = await carol(['store', 'verify']);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.equal(snapshotStore(carolHome), snapshot, 'failed clones change nothing');
  const unknownRegistry = await alice(['image', 'publish', '--force', 'rpi-debian', '--registry', 'nope']);
  assert.equal(unknownRegistry.code, 1);
  assert.match(unknownRegistry.stderr, /\[CONFIG\]: unknown registry "nope"\n {2}hint: configured registries: local, art, down, hub/);
});

test('Docker Hub discovery: a contract server for the Hub search API, KILN_HUB_URL and KILN_HUB_SEARCH_URL', async (t) => {
  const { dir, reg, home } = await setup(t);
  const queries: string[] = [];
  // The Hub's repository search, as hub.docker.com answers it: paginated results with `next`.
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    queries.push(`${url.pathname}?${url.searchParams.toString()}`);
    const page = Number(url.searchParams.get('page') ?? '1');
    const pages = [[{ repo_name: 'alice/walt_metadata', repo_owner: 'alice' }], [{ repo_name: 'nobody/walt_metadata_old', repo_owner: 'nobody' }]];
    const next = page < pages.length ? `/v2/search/repositories/?query=walt_metadata&page_size=100&page=${page + 1}` : null;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 2, next, previous: null, results: pages[page - 1] ?? [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  const config = writeKilnYaml(dir, [{ api: 'docker-hub' }]);
  const env = { KILN_CONFIG: config, KILN_HUB_URL: `http://${reg.host}`, KILN_HUB_SEARCH_URL: `http://127.0.0.1:${port}`, DOCKER_HOST: `unix://${join(dir, 'none.sock')}` };
  const published = await kilnFor(home, 'alice')(['image', 'publish', '--force', 'rpi-debian', '--json'], env);
  assert.equal(json<{ cloneUrl: string }>(published).cloneUrl, 'hub:alice/rpi-debian', 'Docker Hub is the default target');
  const listed = await kilnFor(home, 'bob')(['registry', 'list', '--json'], env);
  assert.deepEqual(json<Array<{ label: string; url: string }>>(listed).map((r) => [r.label, r.url]), [['hub', `http://${reg.host}`]]);
  const found = json<Search>(await kilnFor(join(dir, 'erin'), 'erin')(['image', 'search', '--json'], env));
  assert.deepEqual(found.images.map((h) => h.cloneUrl), ['hub:alice/rpi-debian']);
  assert.deepEqual(queries, ['/v2/search/repositories/?query=walt_metadata&page_size=100', '/v2/search/repositories/?query=walt_metadata&page_size=100&page=2']);
  const cloned = await kilnFor(join(dir, 'erin'), 'erin')(['image', 'clone', 'hub:alice/rpi-debian', '--json'], env);
  assert.equal(cloned.code, 0, cloned.stderr);
});
