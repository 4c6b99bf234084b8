import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, makeRootfsDir, scratch, tarDir } from '../helpers.ts';

// Credentials written into a URL are refused, and never printed: not in errors, plans, logs or JSON.
const SECRET = 'hunter2-secret';

function spec(dir: string, name: string, options: Record<string, string>): string {
  const file = join(dir, `${name}.yaml`);
  const lines = Object.entries({ name: `'${name}'`, publish_tags: "['v1']", ...options }).map(([k, v]) => `  ${k}: ${v}`);
  writeFileSync(file, `options:\n${lines.join('\n')}\ncmds:\n  - cmd: 'true'\n`);
  return file;
}

function assertHidden(r: { stdout: string; stderr: string }): void {
  assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET), `the secret is printed:\n${r.stdout}${r.stderr}`);
  assert.ok(!`${r.stdout}${r.stderr}`.includes('user:'), 'nor the user:password pair');
}

test('a spec parent with credentials in its URL is refused, pointing to kiln login, without printing them', async (t) => {
  const dir = scratch(t, 'kiln-url-creds');
  const kiln = kilnFor(join(dir, 'home'));
  for (const parent of [`http://user:${SECRET}@127.0.0.1:5000/alice/base:v1`, `user:${SECRET}@127.0.0.1:5000/alice/base:v1`]) {
    const file = spec(dir, 'child', { parent: `'${parent}'`, registry_opts_pull: "['--tls-verify=false']" });
    for (const args of [['image', 'build', file], ['image', 'build', file, '--dry-run'], ['image', 'build', file, '--dry-run', '--json']]) {
      const r = await kiln(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /kiln: error \[AUTH\]: .*child\.yaml:\d+:\d+: parent ".*\*\*\*@127\.0\.0\.1:5000\/alice\/base:v1" has a user name or password in it/);
      assert.match(r.stderr, /hint: .*kiln login/);
      assertHidden(r);
    }
  }
});

test('publish_registry and publish_s3 with credentials are refused without printing them', async (t) => {
  const dir = scratch(t, 'kiln-url-creds');
  const kiln = kilnFor(join(dir, 'home'));
  const registry = spec(dir, 'reg', { parent: "'scratch'", pkg_manager: "'apt'", publish_registry: `'http://user:${SECRET}@127.0.0.1:5000/lab'` });
  const r1 = await kiln(['image', 'build', registry, '--dry-run']);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /\[AUTH\]: .*publish_registry "http:\/\/\*\*\*@127\.0\.0\.1:5000\/lab" has a user name or password/);
  assert.match(r1.stderr, /hint: .*kiln login/);
  assertHidden(r1);
  const s3 = spec(dir, 's3', { parent: "'scratch'", pkg_manager: "'apt'", publish_s3: `'http://user:${SECRET}@127.0.0.1:9000'`, s3_bucket: "'boot'" });
  const r2 = await kiln(['image', 'build', s3, '--dry-run']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /publish_s3 "http:\/\/\*\*\*@127\.0\.0\.1:9000" has a user or password in it/);
  assertHidden(r2);
});

test('an S3 endpoint with credentials (--s3-endpoint or AWS_ENDPOINT_URL) is refused without printing them', async (t) => {
  const dir = scratch(t, 'kiln-url-creds');
  const kiln = kilnFor(join(dir, 'home'));
  assert.equal((await kiln(['image', 'import', tarDir(makeRootfsDir(dir), join(dir, 'root.tar')), 'node:v1'])).code, 0);
  const base = ['image', 'export', 'node:v1', 's3://boot/lab/', '--format', 'boot', '--json'];
  for (const [args, env] of [
    [[...base, '--s3-endpoint', `http://user:${SECRET}@127.0.0.1:9`], {}],
    [base, { AWS_ENDPOINT_URL: `http://user:${SECRET}@127.0.0.1:9` }],
  ] as const) {
    const r = await kiln(args, env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /kiln: error \[CONFIG\]: S3 endpoint http:\/\/\*\*\*@127\.0\.0\.1:9 has a user or password in it/);
    assert.match(r.stderr, /hint: .*AWS_ACCESS_KEY_ID/);
    assertHidden(r);
  }
});

test('a DOCKER_HOST with credentials is never printed in errors', async (t) => {
  const dir = scratch(t, 'kiln-url-creds');
  const r = await kilnFor(join(dir, 'home'))(['image', 'clone', 'docker:alice/x'], { DOCKER_HOST: `tcp://user:${SECRET}@127.0.0.1:1` });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kiln: error \[NETWORK\]: no Docker daemon answers at tcp:\/\/\*\*\*@127\.0\.0\.1:1/);
  assertHidden(r);
});
