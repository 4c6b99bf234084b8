import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { json, kilnFor, makeRootfsDir, okFor, scratch, tarDir } from '../helpers.ts';

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

test('kiln store gc removes what a boot test killed outright left (namespace and what runs in it, node, lease, state, work directory), not a running one\'s', async (t) => {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const ok = okFor(kilnFor(home));
  // A pid no process has any more: the killed boot test's.
  const dead = spawnSync('true').pid as number;
  const mac = '52:54:00:5e:e0:01';
  const left = `kiln-bt-${dead}-${mac.replace(/:/gu, '')}`;
  const running = `kiln-bt-${process.pid}-5254005ee002`;
  execFileSync('ip', ['netns', 'add', left]);
  execFileSync('ip', ['netns', 'add', running]);
  t.after(() => {
    for (const ns of [left, running]) spawnSync('ip', ['netns', 'del', ns]);
  });
  // What ran in the namespace (the VM, the server) outlives its parent.
  const orphan = spawn('ip', ['netns', 'exec', left, 'sleep', '300'], { stdio: 'ignore' });
  const orphanEnded = new Promise<string | null>((resolve) => orphan.once('exit', (_code, signal) => resolve(signal)));
  t.after(() => orphan.kill('SIGKILL'));
  await ok(['image', 'import', tarDir(makeRootfsDir(join(dir, 'root')), join(dir, 'root.tar')), 'node:v1', '--label', 'walt.node.models=pc-x86-64']);
  await ok(['node', 'register', mac, '--model', 'pc-x86-64', '--name', 'bt-left', '--image', 'node:v1']);
  const state = join(home, 'state', 'nodes', mac);
  mkdirSync(state, { recursive: true });
  const work = join(tmpdir(), `kiln-boot-test-${dead}-abcdef`);
  mkdirSync(work, { recursive: true });
  // Wait until sleep runs inside the namespace.
  for (let i = 0; i < 50 && execFileSync('ip', ['netns', 'pids', left], { encoding: 'utf8' }).trim() === ''; i++) await new Promise((r) => setTimeout(r, 100));

  await ok(['store', 'gc']);

  assert.ok(!namespaces().includes(left), 'the killed test\'s namespace went');
  assert.ok(namespaces().includes(running), 'a running test\'s namespace stays');
  assert.equal(await orphanEnded, 'SIGKILL', 'what ran in it was stopped');
  const nodes = json<Array<{ mac: string }>>(await ok(['node', 'show', '--all', '--json']));
  assert.ok(!JSON.stringify(nodes).includes(mac), 'its node went');
  assert.equal(existsSync(state), false);
  assert.equal(existsSync(work), false);
});
