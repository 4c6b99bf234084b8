import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { KILN, json, kilnFor, makeRootfsDir, runProgram, scratch, tarDir } from '../helpers.ts';

interface ShowItem {
  name: string;
  ref: string;
  user: string;
  models: string[];
  inUse: boolean;
  cloneUrl: string;
  digest: string;
  size: number;
  created: string;
}

async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const rootfs = tarDir(makeRootfsDir(dir), join(dir, 'rootfs.tar'));
  return { dir, home, rootfs, alice: kilnFor(home, 'alice'), bob: kilnFor(home, 'bob') };
}

test('import, show, inspect, duplicate, rename and remove, the WalT way', async (t) => {
  const { rootfs, alice, bob } = await setup(t);
  const imported = await alice(['image', 'import', rootfs, 'rpi-debian', '--label', 'walt.node.models=rpi-3-b,rpi-4-b']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /Imported rpi-debian \(rootfs/);
  assert.equal(imported.stderr, '', 'a node image import warns about nothing');

  const shown = json<ShowItem[]>(await alice(['image', 'show', '--json']));
  assert.equal(shown.length, 1);
  assert.deepEqual(
    { name: shown[0]?.name, ref: shown[0]?.ref, models: shown[0]?.models, inUse: shown[0]?.inUse },
    { name: 'rpi-debian', ref: 'alice/rpi-debian:latest', models: ['rpi-3-b', 'rpi-4-b'], inUse: false },
  );
  const table = await alice(['image', 'show']);
  assert.match(table.stdout, /^Name\s+In-use\s+Created\s+Size\s+Compatibility$/m);
  assert.match(table.stdout, /^rpi-debian\s+no\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\S+B\s+rpi-3-b,rpi-4-b$/m);

  const inspected = json<ShowItem & { manifest: { layers: unknown[] }; config: { config: { Labels: Record<string, string> } } }>(
    await alice(['image', 'inspect', 'rpi-debian', '--json']),
  );
  assert.equal(inspected.manifest.layers.length, 1);
  assert.equal(inspected.config.config.Labels['walt.node.models'], 'rpi-3-b,rpi-4-b');
  assert.match((await alice(['image', 'inspect', 'alice/rpi-debian:latest'])).stdout, /Node models:\s+rpi-3-b, rpi-4-b/);

  assert.equal((await alice(['image', 'duplicate', 'rpi-debian', 'rpi-debian:v2'])).code, 0);
  assert.equal((await alice(['image', 'rename', 'rpi-debian', 'rpi-stable'])).code, 0);
  const names = (await alice(['image', 'show', '--names-only'])).stdout.trim().split('\n');
  assert.deepEqual(names, ['rpi-debian:v2', 'rpi-stable']);
  const after = json<ShowItem[]>(await alice(['image', 'show', '--json']));
  assert.equal(after[0]?.digest, inspected.digest, 'duplicate and rename keep the content');

  // Other users see alice's images only with --all, as walt: clone links.
  assert.deepEqual(json<ShowItem[]>(await bob(['image', 'show', '--json'])), []);
  const all = await bob(['image', 'show', '--all']);
  assert.match(all.stdout, /walt:alice\/rpi-stable\s/);
  assert.match((await bob(['image', 'show', '--all', '--names-only'])).stdout, /^walt:alice\/rpi-debian:v2$/m);
  // Bob may copy alice's image under his name, not rename or remove it.
  assert.equal((await bob(['image', 'duplicate', 'alice/rpi-stable', 'mine'])).code, 0);
  const refused = await bob(['image', 'remove', 'alice/rpi-stable']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /belongs to alice/);

  const removed = await alice(['image', 'remove', 'rpi-stable', 'rpi-debian:v2']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(json<ShowItem[]>(await alice(['image', 'show', '--json'])), []);
  assert.equal(json<ShowItem[]>(await bob(['image', 'show', '--json'])).length, 1, "bob's copy survives");
  const verify = await alice(['store', 'verify']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('an image without walt.node.models is imported with a warning and not shown', async (t) => {
  const { rootfs, alice } = await setup(t);
  const result = await alice(['image', 'import', rootfs, 'plain']);
  assert.equal(result.code, 0);
  assert.match(result.stderr, /warning: alice\/plain:latest has no label walt\.node\.models/);
  assert.match(result.stderr, /--label walt\.node\.models=<model>/);
  assert.deepEqual(json(await alice(['image', 'show', '--json'])), []);
  assert.match((await alice(['image', 'inspect', 'plain'])).stdout, /not a node image/);
  // Adding the label later (re-import with --force) makes it a node image.
  assert.equal((await alice(['image', 'import', rootfs, 'plain', '--force', '--label', 'walt.node.models=pc-x86-64'])).code, 0);
  assert.equal(json<ShowItem[]>(await alice(['image', 'show', '--json']))[0]?.name, 'plain');
});

test('exit statuses: 0 ok, 1 failure, 2 usage; errors carry a code and a hint', async (t) => {
  const { rootfs, alice } = await setup(t);
  const cases: Array<{ args: string[]; code: number; error: RegExp }> = [
    { args: ['image', 'frobnicate'], code: 2, error: /\[USAGE\]/ },
    { args: ['image', 'show', '--bogus'], code: 2, error: /\[USAGE\].*bogus/ },
    { args: ['image', 'inspect'], code: 2, error: /usage: kiln image inspect/ },
    { args: ['image', 'import', rootfs, 'Bad_Name'], code: 2, error: /\[INVALID_NAME\].*Bad_Name/ },
    { args: ['image', 'import', rootfs, 'default'], code: 2, error: /reserved/ },
    { args: ['image', 'inspect', 'nothing-here'], code: 1, error: /\[NOT_FOUND\]: no image alice\/nothing-here:latest/ },
    { args: ['image', 'remove', 'nothing-here'], code: 1, error: /\[NOT_FOUND\]/ },
    { args: ['image', 'export', 'nothing-here', '/tmp/x', '--format', 'oci'], code: 1, error: /\[NOT_FOUND\]/ },
    { args: ['image', 'export', 'x', '/tmp/x'], code: 2, error: /needs --format/ },
    { args: ['image', 'import', '/does/not/exist'], code: 1, error: /\[NOT_FOUND\]/ },
  ];
  for (const c of cases) {
    const result = await alice(c.args);
    assert.equal(result.code, c.code, `${c.args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, c.error, c.args.join(' '));
    assert.match(result.stderr, /hint: /, `${c.args.join(' ')} gives a hint`);
    assert.equal(result.stdout, '', 'errors go to stderr only');
  }
  const help = await alice(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /kiln image import <path>/);
});

test('--quiet prints nothing on success; an existing name needs --force', async (t) => {
  const { rootfs, alice } = await setup(t);
  const quiet = await alice(['image', 'import', rootfs, 'q', '--quiet', '--label', 'walt.node.models=m']);
  assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, '', '']);
  const again = await alice(['image', 'import', rootfs, 'q', '--label', 'walt.node.models=m']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[ALREADY_EXISTS\].*--force/s);
  const dup = await alice(['image', 'duplicate', 'q', 'q']);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /ALREADY_EXISTS/);
});

test('progress shows on a terminal only', async (t) => {
  const { dir, rootfs, alice } = await setup(t);
  const env = `KILN_HOME=${join(dir, 'home')} KILN_USER=alice`;
  // `script` gives kiln a pseudo-terminal, as a person at a shell would.
  const tty = await runProgram('script', ['-qec', `${env} ${KILN} image import ${rootfs} on-tty --label walt.node.models=m`, '/dev/null']);
  assert.equal(tty.code, 0, tty.stdout);
  assert.match(tty.stdout, /\r\x1b\[Kimporting {2}\d+\.\d MB/);
  const piped = await alice(['image', 'import', rootfs, 'piped', '--label', 'walt.node.models=m']);
  assert.doesNotMatch(piped.stderr + piped.stdout, /\x1b\[K/);
});
