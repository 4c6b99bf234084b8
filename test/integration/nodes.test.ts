import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { json, kilnFor, makeRootfsDir, scratch, tarDir } from '../helpers.ts';
import { startRegistry, writeKilnYaml } from '../registry-servers.ts';

interface NodeView { name: string; model: string; image: string; ref: string; owner: string | null; ip: string | null; mac: string; lastBoot: unknown; settings: Record<string, unknown> }
interface ImageView { name: string; ref: string; inUse: boolean; digest: string }

/** A test registry standing in for Docker Hub, holding waltplatform/pc-x86-64-default:latest; alice's store with two node images. */
async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t, 'kiln-nodes');
  const reg = await startRegistry(t, dir, { kind: 'none' });
  const env = { KILN_CONFIG: writeKilnYaml(dir, [{ api: 'docker-hub', host: '127.0.0.1', port: reg.port, protocol: 'http' }]), DOCKER_HOST: `unix://${join(dir, 'no-docker.sock')}` };
  const home = join(dir, 'home');
  const alice = (args: readonly string[]) => kilnFor(home, 'alice')(args, env);
  const bob = (args: readonly string[]) => kilnFor(home, 'bob')(args, env);
  const rootfs = tarDir(makeRootfsDir(dir), join(dir, 'rootfs.tar.gz'), 'gzip');
  // The platform's default image, published from another store by its owner.
  const platform = (args: readonly string[]) => kilnFor(join(dir, 'platform-home'), 'waltplatform')(args, env);
  for (const args of [
    ['image', 'import', rootfs, 'pc-x86-64-default', '--label', 'walt.node.models=pc-x86-64,pc-x86-32', '--label', 'walt.image.preferred-name=pc-default:latest'],
    ['image', 'publish', '--force', 'pc-x86-64-default'],
    ['image', 'import', rootfs, 'x86-node', '--label', 'walt.node.models=pc-x86-64'],
    ['image', 'import', rootfs, 'rpi-node', '--label', 'walt.node.models=rpi-3-b,rpi-4-b'],
  ]) {
    const run = args[1] === 'publish' || args[3] === 'pc-x86-64-default' ? platform : alice;
    const r = await run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  return { alice, bob };
}

const nodes = async (run: (a: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>): Promise<NodeView[]> => {
  const r = await run(['node', 'show', '--all', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { mine, others } = json<{ mine: NodeView[]; others: NodeView[] }>(r);
  return [...mine, ...others];
};

test('register, show, boot (wrong model refused with the verdict; default cloned from the Hub), image in use, rename, config, forget', async (t) => {
  const { alice, bob } = await setup(t);

  // register: MAC with dashes, name as WalT names it, the model's default image cloned from the Hub.
  const reg = await alice(['node', 'register', '52-54-00-AB-CD-EF', '--model', 'pc-x86-64', '--ip', '127.0.0.1', '--json']);
  assert.equal(reg.code, 0, reg.stderr);
  assert.deepEqual(json<NodeView>(reg), {
    name: 'pc-x86-64-abcdef', model: 'pc-x86-64', image: 'waltplatform/pc-x86-64-default:latest', ref: 'waltplatform/pc-x86-64-default:latest',
    owner: 'alice', ip: '127.0.0.1', mac: '52:54:00:ab:cd:ef', lastBoot: null, settings: {},
  });
  const again = await alice(['node', 'register', '52:54:00:ab:cd:ef', '--model', 'pc-x86-64', '--name', 'other']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /ALREADY_EXISTS.*already registered, as pc-x86-64-abcdef/);
  const badMac = await alice(['node', 'register', '52:54:00:ab:cd', '--model', 'pc-x86-64']);
  assert.match(badMac.stderr, /INVALID_NAME.*not a MAC address/);
  const noModel = await alice(['node', 'register', '52:54:00:00:00:01']);
  assert.match(noModel.stderr, /USAGE.*--model/);

  const table = await alice(['node', 'show']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /pc-x86-64-abcdef\s+pc-x86-64\s+waltplatform\/pc-x86-64-default:latest\s+alice\s+127\.0\.0\.1\s+52:54:00:ab:cd:ef\s+never/);

  // boot: an image without the node's model is refused, with the check report for that model.
  const wrong = await alice(['node', 'boot', 'pc-x86-64-abcdef', 'rpi-node']);
  assert.equal(wrong.code === 0, false);
  assert.match(wrong.stderr, /CHECK_FAILED.*alice\/rpi-node:latest cannot boot pc-x86-64-abcdef: its walt.node.models is "rpi-3-b,rpi-4-b", without pc-x86-64/);
  assert.match(wrong.stderr, /for pc-x86-64\n/);
  assert.match(wrong.stderr, /NOT bootable/);
  assert.equal((await nodes(alice))[0]?.ref, 'waltplatform/pc-x86-64-default:latest', 'the node kept its image');

  const booted = await alice(['node', 'boot', '52:54:00:ab:cd:ef', 'x86-node']);
  assert.equal(booted.code, 0, booted.stderr);
  assert.match(booted.stdout, /pc-x86-64-abcdef will boot x86-node/);

  // in use: image show says so, image remove refuses, bob cannot take the node without --force.
  const shown = json<ImageView[]>(await alice(['image', 'show', '--json']));
  assert.deepEqual(shown.map((v) => [v.name, v.inUse]), [['rpi-node', false], ['x86-node', true]]);
  assert.match((await alice(['image', 'show'])).stdout, /x86-node\s+yes/);
  const removing = await alice(['image', 'remove', 'x86-node']);
  assert.notEqual(removing.code, 0);
  assert.match(removing.stderr, /CONFLICT.*alice\/x86-node:latest is in use: node pc-x86-64-abcdef boots it/);
  assert.match(removing.stderr, /kiln node boot pc-x86-64-abcdef default/);
  const taken = await bob(['node', 'boot', 'all', 'default']);
  assert.match(taken.stderr, /CONFLICT.*pc-x86-64-abcdef \(alice\).*another user's/);

  // boot default: the node is free again, and alice has her copy, named by the image's preferred name.
  const freed = await alice(['node', 'boot', 'all', 'default']);
  assert.equal(freed.code, 0, freed.stderr);
  assert.match(freed.stdout, /pc-x86-64-abcdef will boot waltplatform\/pc-x86-64-default:latest \(free node\)/);
  assert.equal((await nodes(alice))[0]?.owner, null);
  const images = json<ImageView[]>(await alice(['image', 'show', '--json']));
  assert.deepEqual(images.map((v) => v.name), ['pc-default', 'rpi-node', 'x86-node']);
  assert.equal((await alice(['image', 'remove', 'x86-node'])).code, 0, 'no longer in use');
  // Once per image: booting the default again makes no second copy.
  await alice(['node', 'boot', 'all', 'default']);
  assert.deepEqual(json<ImageView[]>(await alice(['image', 'show', '--json'])).map((v) => v.name), ['pc-default', 'rpi-node']);

  // rename (unique names; the MAC still names it), config, forget.
  assert.equal((await bob(['node', 'register', '52:54:00:00:00:02', '--model', 'pc-x86-64', '--name', 'lab-2'])).code, 0);
  const clash = await alice(['node', 'rename', 'pc-x86-64-abcdef', 'lab-2']);
  assert.match(clash.stderr, /ALREADY_EXISTS.*node name lab-2 is taken/);
  const renamed = await alice(['node', 'rename', '52-54-00-ab-cd-ef', 'lab-1']);
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.match(renamed.stdout, /Renamed 52-54-00-ab-cd-ef to lab-1/);
  const configured = await alice(['node', 'config', 'lab-1', 'boot.timeout=60', 'kexec.allow=true', 'note=rack 3', '--json']);
  assert.equal(configured.code, 0, configured.stderr);
  assert.deepEqual(json(configured), [{ name: 'lab-1', settings: { 'boot.timeout': 60, 'kexec.allow': true, note: 'rack 3' } }]);
  await alice(['node', 'config', 'lab-1', 'note=']);
  assert.deepEqual((await nodes(alice)).find((n) => n.name === 'lab-1')?.settings, { 'boot.timeout': 60, 'kexec.allow': true });
  assert.match((await alice(['node', 'config', 'lab-1', 'bad key=1'])).stderr, /USAGE.*invalid setting/);
  assert.match((await alice(['node', 'forget', 'lab-2'])).stderr, /CONFLICT.*lab-2 \(bob\)/);
  const forgot = await alice(['node', 'forget', 'lab-1,lab-2', '--force']);
  assert.equal(forgot.code, 0, forgot.stderr);
  assert.deepEqual(await nodes(alice), []);
  assert.match((await alice(['node', 'forget', 'lab-1'])).stderr, /NOT_FOUND.*no node lab-1/);
});

test('boot default fails with NOT_FOUND naming where it looked when no registry has the default image', async (t) => {
  const { alice } = await setup(t);
  const r = await alice(['node', 'register', '52:54:00:00:00:03', '--model', 'rpi-4-b']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NOT_FOUND.*no default image for model rpi-4-b: waltplatform\/rpi-4-b-default:latest is not in the store, and cloning failed \(hub:waltplatform\/rpi-4-b-default:latest/);
});
