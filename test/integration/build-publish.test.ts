import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, kilnFor, scratch } from '../helpers.ts';
import { startRegistry } from '../registry-servers.ts';
import { S3RVER_KEY, listKeys, startS3 } from '../export-s3.ts';

// Its own KILN_HOME, kept between runs: the Debian bootstrap is cached, so warm runs only publish.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'build-publish-home');
const kiln = kilnFor(HOME, 'builder');
const S3_ENV = { S3_ACCESS: S3RVER_KEY.access, S3_SECRET: S3RVER_KEY.secret, AWS_ACCESS_KEY_ID: '', AWS_PROFILE: '', AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '' };

function spec(name: string, publish: string, cmd = 'mkdir -p /boot && echo kernel > /boot/vmlinuz-6.1.0-kiln-amd64 && echo initrd > /boot/initrd.img-6.1.0-kiln-amd64'): string {
  return `options:
  name: '${name}'
  publish_tags: ['v1', 'latest']
  pkg_manager: 'apt'
  parent: 'scratch'
${publish}
cmds:
  - cmd: '${cmd}'
`;
}

async function registryGet(host: string, path: string, accept?: string): Promise<{ status: number; body: string; digest: string | null }> {
  const res = await fetch(`http://${host}${path}`, accept ? { headers: { accept } } : {});
  return { status: res.status, body: await res.text(), digest: res.headers.get('docker-content-digest') };
}

test('publish_registry and publish_s3 publish every tag after a successful build, and nothing when a build fails', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-build-publish');
  const registry = await startRegistry(t, dir, { kind: 'none' });
  const s3 = await startS3(t);
  await s3.s3cmd(['mb', 's3://boot-images']);
  // The seed's form: host:port/namespace, plain http allowed by --tls-verify=false; SquashFS to S3 with OpenCHAMI's names.
  const publish = `  publish_registry: '${registry.host}/openchami'
  registry_opts_push: ['--tls-verify=false']
  publish_s3: '${s3.endpoint}'
  s3_prefix: 'compute/base/'
  s3_bucket: 'boot-images'`;
  const ok = join(dir, 'ok.yaml');
  writeFileSync(ok, spec('deb-pub', publish));
  const failing = join(dir, 'fail.yaml');
  writeFileSync(failing, spec('deb-pub-fail', publish, 'exit 7'));

  const failed = await kiln(['image', 'build', ok, failing], S3_ENV);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /fail\.yaml: step 2\/2 "cmds\[0\]: exit 7" failed with exit status 7/);
  assert.deepEqual(JSON.parse((await registryGet(registry.host, '/v2/_catalog')).body), { repositories: [] }, 'a failed build publishes nothing, not even the spec before it');
  assert.deepEqual(await listKeys(s3, 'boot-images'), []);

  const built = await kiln(['image', 'build', ok, '--json'], S3_ENV);
  assert.equal(built.code, 0, built.stderr);
  const [outcome] = json<Array<{ digest: string; published: { registry: string[]; s3: string[] } }>>(built);
  assert.deepEqual(outcome?.published.registry, [`${registry.host}/openchami/deb-pub:v1`, `${registry.host}/openchami/deb-pub:latest`]);
  const tags = JSON.parse((await registryGet(registry.host, '/v2/openchami/deb-pub/tags/list')).body) as { tags: string[] };
  assert.deepEqual(tags.tags.sort(), ['latest', 'v1']);
  const head = await registryGet(registry.host, '/v2/openchami/deb-pub/manifests/v1', 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(head.digest, outcome?.digest, 'the registry holds the built manifest, byte for byte');

  const keys = await listKeys(s3, 'boot-images');
  for (const tag of ['v1', 'latest']) {
    for (const suffix of ['', '.ipxe', '.manifest.json']) assert.ok(keys.includes(`compute/base/debian12-deb-pub-${tag}${suffix}`), `${tag}${suffix} in ${keys.join(' ')}`);
  }
  assert.ok(keys.includes('efi-images/compute/base/vmlinuz-6.1.0-kiln-amd64'));
  assert.ok(keys.includes('efi-images/compute/base/initrd.img-6.1.0-kiln-amd64'));

  // A configured registry's label: the image goes to the user's namespace, as kiln image publish does.
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, `registries:\n  - label: local\n    api: docker-registry-v2\n    host: 127.0.0.1\n    port: ${registry.port}\n    protocol: http\n    auth: none\n`);
  writeFileSync(ok, spec('deb-pub', "  publish_registry: 'local'"));
  const labelled = await kiln(['image', 'build', ok], { KILN_CONFIG: config });
  assert.equal(labelled.code, 0, labelled.stderr);
  assert.match(labelled.stdout, new RegExp(`^Pushed ${registry.host}/builder/deb-pub:v1$`, 'm'));
  assert.equal((await registryGet(registry.host, '/v2/builder/deb-pub/manifests/latest', 'application/vnd.oci.image.manifest.v1+json')).digest, outcome?.digest);
});

test('publish settings are checked with the spec, before anything is built', async (t) => {
  const dir = scratch(t, 'kiln-build-publish');
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, spec('deb-bad', `  publish_registry: 'registry.lab:5000/Demo'
  registry_opts_push: ['--creds=a:b']
  s3_bucket: 'boot-images'`));
  const out = await kiln(['image', 'build', file]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /error \[CONFIG\]: 2 problems with publishing/);
  assert.match(out.stderr, /bad\.yaml:6:21: registry_opts_push: "--creds=a:b" not understood by kiln/);
  assert.match(out.stderr, /bad\.yaml:8:14: s3_bucket and s3_prefix go with publish_s3/);
  assert.doesNotMatch(out.stderr, /Building \S+bad\.yaml/);
});

test('a spec\'s publish_registry goes through the publish gate: a node image that cannot boot is not pushed unless --force', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-build-publish');
  const registry = await startRegistry(t, dir, { kind: 'none' });
  const file = join(dir, 'node.yaml');
  // It claims a node model, but has no /boot/pc-x86-64/, busybox or init: the check fails.
  writeFileSync(file, `${spec('deb-node', `  publish_registry: '${registry.host}/walt'\n  registry_opts_push: ['--tls-verify=false']`)}labels:\n  walt.node.models: 'pc-x86-64'\n`);
  const refused = await kiln(['image', 'build', file]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /error \[CHECK_FAILED\]: builder\/deb-node:v1 fails the bootability check/);
  assert.match(refused.stderr, /publish anyway with --force/);
  assert.deepEqual(JSON.parse((await registryGet(registry.host, '/v2/_catalog')).body), { repositories: [] });

  const forced = await kiln(['image', 'build', file, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /publishing builder\/deb-node:v1 although it fails the bootability check \(--force\)/);
  assert.match(forced.stdout, new RegExp(`^Pushed ${registry.host}/walt/deb-node:v1$`, 'm'));
});
