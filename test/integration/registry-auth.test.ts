import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KILN, json, kilnFor, makeRootfsDir, runProgram, scratch, sh, tarDir } from '../helpers.ts';
import { startRegistry, startTokenServer, writeKilnYaml } from '../registry-servers.ts';

const PASSWORD = 'pa55-w0rd-never-printed';

async function importImage(dir: string, alice: (args: readonly string[], env?: NodeJS.ProcessEnv) => Promise<{ code: number; stderr: string; stdout: string }>) {
  const rootfs = tarDir(makeRootfsDir(dir), join(dir, 'rootfs.tar'));
  const r = await alice(['image', 'import', rootfs, 'node-img', '--label', 'walt.node.models=pc-x86-64']);
  assert.equal(r.code, 0, r.stderr);
  return json<{ digest: string }>(await alice(['image', 'inspect', 'node-img', '--json'])).digest;
}

test('htpasswd registry: login checks the password, stores it for podman and docker, publish and clone use it', async (t) => {
  const dir = scratch(t, 'kiln-auth');
  const reg = await startRegistry(t, dir, { kind: 'htpasswd', users: { alice: PASSWORD } });
  const config = writeKilnYaml(dir, [{ label: 'secure', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'basic' }]);
  const authFile = join(dir, 'run', 'containers', 'auth.json');
  const env = { KILN_CONFIG: config, REGISTRY_AUTH_FILE: authFile, HOME: join(dir, 'nohome') };
  const alice = (args: readonly string[], extra: NodeJS.ProcessEnv = {}) => kilnFor(join(dir, 'home'), 'alice')(args, { ...env, ...extra });
  const digest = await importImage(dir, alice);

  const noLogin = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'secure']);
  assert.equal(noLogin.code, 1);
  assert.match(noLogin.stderr, /\[AUTH\]: secure: .* wants a user name and password\n {2}hint: run `kiln login secure`/);

  const cases: Array<[string, string[], string, number, RegExp]> = [
    ['wrong password', ['login', 'secure', '--username', 'alice', '--password-stdin'], 'wrong-password\n', 1, /\[AUTH\]: secure refused the user name and password of alice\n {2}hint: check them/],
    ['unknown user', ['login', 'secure', '--username', 'mallory', '--password-stdin'], `${PASSWORD}\n`, 1, /\[AUTH\]: secure refused/],
    ['unknown label', ['login', 'elsewhere', '--username', 'alice', '--password-stdin'], `${PASSWORD}\n`, 1, /\[CONFIG\]: unknown registry "elsewhere"\n {2}hint: configured registries: secure/],
    ['no terminal, no --password-stdin', ['login', 'secure', '--username', 'alice'], '', 2, /\[USAGE\]: no terminal to ask for the password\n {2}hint: pipe it in/],
  ];
  for (const [name, args, input, code, message] of cases) {
    const r = await runProgram(KILN, args, { ...process.env, KILN_HOME: join(dir, 'home'), KILN_USER: 'alice', ...env }, input);
    assert.equal(r.code, code, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(input.trim()) || input === '', `${name}: the password is never printed`);
  }
  assert.throws(() => statSync(authFile), 'failed logins save nothing');

  const good = await runProgram(KILN, ['login', 'secure', '--username', 'alice', '--password-stdin', '--debug'], { ...process.env, KILN_HOME: join(dir, 'home'), KILN_USER: 'alice', ...env }, `${PASSWORD}\n`);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /Logged in to secure as alice/);
  assert.ok(!`${good.stdout}${good.stderr}`.includes(PASSWORD), 'the password is never printed, even with --debug');
  assert.equal(statSync(authFile).mode & 0o777, 0o600);
  const stored = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(stored.auths[reg.host]?.auth ?? '', 'base64').toString(), `alice:${PASSWORD}`, 'stored as podman stores it');
  assert.match((await alice(['registry', 'list'])).stdout, /^secure\s+docker-registry-v2\s+http:\/\/127\.0\.0\.1:\d+\s+http\s+basic\s+-\s+yes$/m);

  const published = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'secure', '--debug']);
  assert.equal(published.code, 0, published.stderr);
  assert.ok(!published.stderr.includes(PASSWORD));
  const inspected = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', '--authfile', authFile, `docker://${reg.host}/alice/node-img:latest`])) as { Digest: string };
  assert.equal(inspected.Digest, digest, 'skopeo reads the credentials kiln stored, and sees the same digest');

  // Credentials docker wrote to ~/.docker/config.json work too.
  const home = join(dir, 'dockerhome');
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}/v1/`]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } } }));
  const bob = kilnFor(join(dir, 'bob-home'), 'bob');
  const viaDocker = await bob(['image', 'clone', 'secure:alice/node-img', '--json'], { ...env, REGISTRY_AUTH_FILE: join(dir, 'none.json'), HOME: home });
  assert.equal(viaDocker.code, 0, viaDocker.stderr);
  assert.equal(json<{ digest: string }>(viaDocker).digest, digest);

  assert.match((await alice(['logout', 'secure'])).stdout, /Logged out of secure/);
  assert.deepEqual(JSON.parse(readFileSync(authFile, 'utf8')), { auths: {} });
  const twice = await alice(['logout', 'secure']);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /\[NOT_FOUND\]: not logged in to secure/);
});

test('token registry: Bearer tokens for pull and push, anonymous pulls, tokens reused until they expire', async (t) => {
  const dir = scratch(t, 'kiln-token');
  const tokens = await startTokenServer(t, dir, { alice: PASSWORD });
  const reg = await startRegistry(t, dir, { kind: 'token', server: tokens });
  const config = writeKilnYaml(dir, [{ label: 'tok', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'basic' }]);
  const env = { KILN_CONFIG: config, REGISTRY_AUTH_FILE: join(dir, 'auth.json'), HOME: join(dir, 'nohome'), DOCKER_HOST: 'unix:///nonexistent.sock' };
  const alice = (args: readonly string[]) => kilnFor(join(dir, 'home'), 'alice')(args, env);
  const bob = (args: readonly string[]) => kilnFor(join(dir, 'bob-home'), 'bob')(args, { ...env, REGISTRY_AUTH_FILE: join(dir, 'bob-auth.json') });
  const digest = await importImage(dir, alice);

  const denied = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'tok']);
  assert.equal(denied.code, 1, 'anonymous tokens do not allow push');
  assert.match(denied.stderr, /\[AUTH\]: tok: .*(authentication required or refused|access denied)[^\n]*\n {2}hint: .*kiln login tok/);

  const login = (password: string) => runProgram(KILN, ['login', 'tok', '-u', 'alice', '--password-stdin'], { ...process.env, KILN_HOME: join(dir, 'home'), KILN_USER: 'alice', ...env }, password);
  const wrong = await login('nope');
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[AUTH\]: tok refused the user name and password of alice/);
  assert.equal((await login(PASSWORD)).code, 0);
  const published = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'tok']);
  assert.equal(published.code, 0, published.stderr);
  assert.match(published.stdout, /Clone URL: tok:alice\/node-img/);

  // Bob has no credentials: an anonymous token lets him pull, and one token serves the whole pull.
  tokens.requests.length = 0;
  const cloned = await bob(['image', 'clone', 'tok:alice/node-img', '--json']);
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.equal(json<{ digest: string }>(cloned).digest, digest);
  assert.deepEqual(tokens.requests, [{ user: '', scopes: ['repository:alice/node-img:pull'] }]);

  // Search needs the catalog, which anonymous users may not list: reported, not fatal.
  const search = await bob(['image', 'search', '--json']);
  assert.equal(search.code, 0);
  const found = json<{ unreachable: Array<{ location: string; code: string }> }>(search);
  assert.deepEqual(found.unreachable.map((u) => u.location).sort(), ['docker', 'tok']);
  const aliceSearch = json<{ images: Array<{ cloneUrl: string }> }>(await alice(['image', 'search', '--json']));
  assert.deepEqual(aliceSearch.images.map((h) => h.cloneUrl), ['tok:alice/node-img']);
  // Asynchronously: skopeo needs the token server, which runs in this process.
  const inspected = await runProgram('skopeo', ['inspect', '--tls-verify=false', '--creds', `alice:${PASSWORD}`, `docker://${reg.host}/alice/node-img:latest`]);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, digest, 'skopeo sees the digest kiln pushed');
});

test('TLS: a self-signed registry is refused with the protocol option to use, and https-no-verify reaches it', async (t) => {
  const dir = scratch(t, 'kiln-tls');
  const reg = await startRegistry(t, dir, { kind: 'none' }, { tls: true });
  const base = { api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, auth: 'none' };
  const config = writeKilnYaml(dir, [{ label: 'strict', ...base, protocol: 'https' }, { label: 'lax', ...base, protocol: 'https-no-verify' }, { label: 'plain', ...base, protocol: 'http' }]);
  const alice = (args: readonly string[]) => kilnFor(join(dir, 'home'), 'alice')(args, { KILN_CONFIG: config });
  const digest = await importImage(dir, alice);
  const strict = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'strict']);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /\[NETWORK\]: strict: TLS certificate of https:\/\/127\.0\.0\.1:\d+ not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)\n {2}hint: .*"protocol: https-no-verify" for strict/);
  const plain = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'plain']);
  assert.equal(plain.code, 1, 'plain HTTP to a TLS port fails');
  assert.match(plain.stderr, /\[(NETWORK|UNSUPPORTED)\]/);
  const lax = await alice(['image', 'publish', '--force', 'node-img', '--registry', 'lax']);
  assert.equal(lax.code, 0, lax.stderr);
  const bob = kilnFor(join(dir, 'bob-home'), 'bob');
  const cloned = await bob(['image', 'clone', 'lax:alice/node-img', '--json'], { KILN_CONFIG: config });
  assert.equal(json<{ digest: string }>(cloned).digest, digest);
  assert.equal((await bob(['image', 'clone', 'strict:alice/node-img', 'again'], { KILN_CONFIG: config })).code, 1, 'https-no-verify applies to that registry only');
});
