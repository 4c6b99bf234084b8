import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, json, kilnFor } from '../helpers.ts';

// `kiln image boot-test` boots the image of examples/pc-node-walt.yaml in a qemu VM (TCG here)
// inside a private network namespace (a bridge and a tap, no qemu user-mode services), against
// Kiln's own DHCP, TFTP, HTTP and NFS (a child `kiln serve`, with rpcbind and ganesha.nfsd in the
// namespace), and reports its milestones. The same image boots both ways: its root over NFS
// (boot.mode nfs, Kiln's start.ipxe) and live from its SquashFS. Each boot is bounded by
// --timeout; the store and the host's namespaces are as before the run.

// The build cache shared with boot-vm.test.ts: a warm run does not bootstrap Debian again.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'boot-vm-home');
const base = kilnFor(HOME, 'builder');
// gzip SquashFS, the default: the live boot reads a root written by Kiln's own SquashFS writer
// (boot-vm.test.ts uses lz4, which goes through mksquashfs).
const work = mkdtempSync(join(tmpdir(), 'kiln-boot-test-'));
const CONFIG = join(work, 'kiln.yaml');
writeFileSync(CONFIG, 'server:\n  rootfs_compression: gzip\n');
const kiln: typeof base = (args, env = {}) => base(args, { KILN_CONFIG: CONFIG, ...env });
const SPEC = join(ROOT, 'examples', 'pc-node-walt.yaml');
const IMAGE = 'pc-node-walt:12';
const DEFAULT = 'waltplatform/pc-x86-64-default:latest';
const BOOT_S = 480; // 70-110 s on a quiet machine; generous for a loaded CI runner
const MILESTONES = ['DHCP', 'second-stage script', 'kernel', 'initramfs', 'root mounted', 'init', 'login prompt', 'SSH answering'];
/** `   12.3 s  DHCP  (10.213.5.100 from kiln)` */
const LINE = /^\s+(\d+\.\d) s {2}(.+?)(?: {2}\((.*)\))?$/u;

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('kiln-bt-'));
}

async function ok(args: string[]): Promise<Awaited<ReturnType<typeof kiln>>> {
  const r = await kiln(args);
  assert.equal(r.code, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/**
 * The catalog as a user sees it, less the nodes other tests add meanwhile: boot-vm.test.ts's
 * node shares this store and may be registered, or boot, during a boot test. Nodes named as
 * boot-test names them (`boot-test-xxxxxx`, or WalT's `pc-x86-64-xxxxxx` for a discovered
 * one) and the devices stay in.
 */
async function catalog(): Promise<string> {
  const shown = JSON.parse((await ok(['node', 'show', '--all', '--json'])).stdout) as Record<string, unknown>;
  const ours = (nodes: unknown): unknown => (Array.isArray(nodes) ? nodes.filter((n: { name?: string }) => /^(?:boot-test|pc-x86-64)-[0-9a-f]{6}$/u.test(n.name ?? '')) : nodes);
  return JSON.stringify({ ...shown, mine: ours(shown.mine), others: ours(shown.others) }, (key, value: unknown) => (key === 'lastBoot' ? undefined : value), 2);
}

after(() => rmSync(work, { recursive: true, force: true }));

before(async () => {
  await ok(['image', 'build', SPEC]);
});

test('boot-test live-boots the image in a VM to a login prompt, printing each milestone with its time', { timeout: (BOOT_S + 240) * 1000 }, async (t) => {
  const nodesBefore = await catalog();
  const r = await kiln(['image', 'boot-test', IMAGE, '--mode', 'live', '--timeout', String(BOOT_S)]);
  t.diagnostic(r.stdout);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.split('\n').map((l) => LINE.exec(l)).filter((m) => m !== null);
  assert.deepEqual(lines.map((m) => m[2]), MILESTONES);
  assert.match(lines[0]?.[3] ?? '', /^10\.213\.\d+\.100 from kiln$/u);
  const times = lines.map((m) => Number(m[1]));
  assert.deepEqual(times, [...times].sort((a, b) => a - b), 'milestones come in time order');
  assert.match(r.stdout, /booted as pc-x86-64 in \d+\.\d s \((tcg|kvm)\)/u);
  assert.match(lines.at(-1)?.[3] ?? '', /^port 22 of 10\.213\.\d+\.100 answering/u, 'live mode: no identity, so SSH is only seen answering');
  assert.equal(await catalog(), nodesBefore, 'the temporary node and its lease are gone');
  assert.deepEqual(namespaces(), [], 'no network namespace left');
});

test('a brand-new PC is discovered: the first stage announces walt.node.pc-x86-64, it boots the default image with its root over NFS as pc-x86-64-xxxxxx, and SSH runs a command on it', { timeout: (BOOT_S + 240) * 1000 }, async (t) => {
  // The model's default image from the test image, so that nothing is cloned from the network.
  const hadDefault = (await kiln(['image', 'inspect', DEFAULT])).code === 0;
  // Clones belong to their maker: the platform's user makes its own copy of the test image.
  if (!hadDefault) {
    const r = await kiln(['image', 'clone', `walt:builder/${IMAGE}`, 'pc-x86-64-default:latest', '--force'], { KILN_USER: 'waltplatform' });
    assert.equal(r.code, 0, r.stderr);
  }
  t.after(async () => {
    if (!hadDefault) await kiln(['image', 'remove', DEFAULT], { KILN_USER: 'waltplatform' });
  });
  const nodesBefore = await catalog();
  const r = await kiln(['image', 'boot-test', DEFAULT, '--new-node', '--mode', 'nfs', '--run', 'cat /etc/hostname', '--timeout', String(BOOT_S), '--json']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const outcome = json<{ ok: boolean; mode: string; node: string; mac: string; ran?: { stdout: string }; milestones: Array<{ name: string; seconds: number; detail?: string }> }>(r);
  t.diagnostic(outcome.milestones.map((m) => `${m.name} ${m.seconds} s${m.detail ? ` (${m.detail})` : ''}`).join(', '));
  assert.equal(outcome.ok, true);
  assert.equal(outcome.node, `pc-x86-64-${outcome.mac.replace(/:/gu, '').slice(-6)}`);
  assert.deepEqual(outcome.milestones.map((m) => m.name), MILESTONES);
  assert.equal(outcome.mode, 'nfs');
  assert.match(outcome.milestones.find((m) => m.name === 'root mounted')?.detail ?? '', /nfs/u);
  assert.match(outcome.milestones.at(-1)?.detail ?? '', /^root@10\.213\.\d+\.\d+, host key pinned$/u);
  assert.equal(outcome.ran?.stdout, `${outcome.node}\n`, 'the node\'s name, written by its identity');
  assert.equal(await catalog(), nodesBefore, 'the discovered node and its lease are gone');
  assert.equal(existsSync(join(HOME, 'state', 'nodes', outcome.mac)), false, 'the temporary node\'s state (persist, keys) is gone');
  assert.deepEqual(namespaces(), []);
});

test('boot-test refuses what it cannot do, before starting anything', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--mode', 'live', '--run', 'true'], /--run needs --mode nfs/u],
    [['--model', 'rpi-3-b-plus'], /Raspberry Pi/u],
    [['--mode', 'floppy'], /--mode floppy is not one of live, nfs/u],
    [['--new-node'], /default image/u],
  ];
  for (const [args, message] of cases) {
    const r = await kiln(['image', 'boot-test', IMAGE, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message);
  }
  const publish = await kiln(['image', 'publish', IMAGE, '--boot-test', '--mode', 'live', '--run', 'true']);
  assert.notEqual(publish.code, 0);
  assert.match(publish.stderr, /--run needs --mode nfs/u, 'publish --boot-test refuses to publish when the boot test fails');
  assert.deepEqual(namespaces(), []);
});
