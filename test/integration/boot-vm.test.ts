import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, json, kilnFor } from '../helpers.ts';
import { bootVm } from '../vm.ts';
import { type StandIn, startStandIn } from '../boot-standin.ts';

// A real bootloader (the iPXE ROM of qemu's emulated e1000) boots a Kiln-built image the
// WalT way: it fetches /boot/pc-x86-64/start.ipxe of the image, which loads the kernel
// and initramfs beside it (over TFTP or HTTP, the script's own scheme), and the
// initramfs live-boots the image's SquashFS over HTTP up to a login prompt on the serial
// console. TCG only: each VM run is bounded.

// The step cache lives in a Kiln home kept between runs: a warm run does not bootstrap Debian again.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'boot-vm-home');
const kiln = kilnFor(HOME, 'builder');
const SPEC = join(ROOT, 'examples', 'pc-node-walt.yaml');
const IMAGE = 'pc-node-walt:12';
const MODEL = 'pc-x86-64';
/** The host's 127.0.0.1 as a VM on qemu's user network sees it. */
const HOST_FROM_VM = '10.0.2.2';
const VM_TIMEOUT_MS = 4 * 60_000;

const work = mkdtempSync(join(tmpdir(), 'kiln-boot-vm-'));
let standIn: StandIn | undefined;
/** How long the build and the export took, reported by each test. */
let setupNote = '';

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

async function ok(args: string[]): Promise<Awaited<ReturnType<typeof kiln>>> {
  const r = await kiln(args);
  assert.equal(r.code, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** The image's /boot and /etc/walt, unpacked from `kiln image export --format rootfs` (what the stand-in serves from). */
async function unpackBootFiles(dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const exporter = spawn(join(ROOT, 'bin', 'kiln'), ['image', 'export', IMAGE, '-', '--format', 'rootfs'], {
      env: { ...process.env, KILN_HOME: HOME, KILN_USER: 'builder', KILN_CONFIG: '' }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tar = spawn('tar', ['-x', '-C', dest, '--wildcards', './boot/*', './etc/walt/*'], { stdio: ['pipe', 'ignore', 'inherit'] });
    exporter.stdout.pipe(tar.stdin);
    let left = 2;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0) reject(new Error(`${what} exited ${code}`));
      else if (--left === 0) resolve();
    };
    exporter.on('close', done('kiln image export'));
    tar.on('close', done('tar'));
  });
}

/**
 * Serves the image to the VM and returns the URL its bootloader starts from: the node's
 * `start.ipxe` over `kind`. Today a stand-in (test/boot-standin.ts); with `kiln serve`,
 * this function registers the VM (`kiln node register <mac> --model pc-x86-64 --ip
 * 127.0.0.1`, `kiln node boot <node> pc-node-walt:12`), starts `kiln serve` on free ports
 * and returns the same URLs.
 */
async function serveImage(kind: 'http' | 'tftp'): Promise<string> {
  if (!standIn) throw new Error('setup did not run');
  if (kind === 'http') return `http://${HOST_FROM_VM}:${standIn.httpPort}/boot/start.ipxe`;
  const port = standIn.tftpPort ?? (await standIn.startTftp());
  return `tftp://${HOST_FROM_VM}:${port}/start.ipxe`;
}

before(async () => {
  let t0 = Date.now();
  const built = json<Array<{ steps: Array<{ cached: boolean }> }>>(await ok(['image', 'build', SPEC, '--json']));
  const cached = built[0]?.steps.every((s) => s.cached) ?? false;
  setupNote = `build ${seconds(t0)} s (${cached ? 'every step cached' : 'built'})`;
  t0 = Date.now();
  const exportDir = join(work, 'export');
  // lz4: the export takes seconds (gzip: minutes on two cores), and the guest unpacks it faster under TCG.
  const exportArgs = ['image', 'export', IMAGE, exportDir, '--format', 'boot', '--layout', 'kiln', '--compression', 'lz4', '--json'];
  const { manifest } = json<{ manifest: { artifacts: Array<{ role: string; names: string[] }> } }>(await ok(exportArgs));
  const rootfsPath = manifest.artifacts.find((a) => a.role === 'rootfs')?.names[0];
  assert.ok(rootfsPath, 'the export names the SquashFS');
  const imageRoot = join(work, 'image');
  await unpackBootFiles(imageRoot);
  setupNote += `, boot export and /boot unpacked ${seconds(t0)} s`;
  standIn = await startStandIn({ imageRoot, model: MODEL, exportDir, rootfsPath, advertisedHost: HOST_FROM_VM, workDir: work });
});

after(async () => {
  await standIn?.close();
  rmSync(work, { recursive: true, force: true });
});

for (const kind of ['http', 'tftp'] as const) {
  test(`iPXE boots the image's /boot/${MODEL}/start.ipxe over ${kind.toUpperCase()} and live-boots its SquashFS to a login prompt`, { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
    const bootfile = await serveImage(kind);
    const before = standIn?.requests.length ?? 0;
    const run = await bootVm({ bootfile, timeoutMs: VM_TIMEOUT_MS });
    t.diagnostic(`setup: ${setupNote}`);
    t.diagnostic(`${kind}: ${run.reached.map((r) => `${r.name} ${r.seconds} s`).join(', ')}`);
    // The console shows the kernel arguments of the image's script, with the rendered rootfs URL.
    assert.match(run.console, /Kernel command line: .*boot=live fetch=http:\/\/10\.0\.2\.2:\d+\/images\/\S+\/rootfs\.squashfs ip=dhcp .*console=ttyS0,115200/);
    // The HTTP side: the SquashFS was downloaded (and, over HTTP, the script, kernel and initramfs).
    const asked = standIn?.requests.slice(before) ?? [];
    const expected = kind === 'http' ? ['/boot/start.ipxe', '/boot/kernel', '/boot/initrd'] : [];
    assert.deepEqual(asked.filter((p) => p.startsWith('/boot/')), expected);
    assert.ok(asked.some((p) => p.endsWith('/rootfs.squashfs')), `rootfs.squashfs requested: ${asked.join(', ')}`);
  });
}
