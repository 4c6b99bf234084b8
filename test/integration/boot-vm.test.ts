import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, json, kilnFor } from '../helpers.ts';
import { bootVm } from '../vm.ts';

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
const VM_TIMEOUT_MS = 8 * 60_000; // about 1 min on a quiet machine; generous for a loaded CI runner

const work = mkdtempSync(join(tmpdir(), 'kiln-boot-vm-'));
/** The VM's NIC (qemu's default): the node Kiln knows. */
const MAC = '52:54:00:12:34:56';
let server: ChildProcess | undefined;
let ports: { http: number; tftp: number } | undefined;
/** kiln serve's request lines. */
const lines: Array<{ protocol?: string; path?: string; result?: string; node?: string }> = [];
/** How long the build and the first export took, reported by each test. */
let setupNote = '';

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

async function ok(args: string[]): Promise<Awaited<ReturnType<typeof kiln>>> {
  const r = await kiln(args);
  assert.equal(r.code, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Starts `kiln serve` on free ports of 127.0.0.1, telling nodes it is at 10.0.2.2 (the host as the VM sees it). */
async function startServe(): Promise<{ http: number; tftp: number }> {
  const config = join(work, 'kiln.yaml');
  writeFileSync(config, `server:\n  address: 127.0.0.1\n  server_ip: ${HOST_FROM_VM}\n  http_port: 0\n  tftp_port: 0\n  rootfs_compression: lz4\n`);
  const child = spawn(join(ROOT, 'bin', 'kiln'), ['serve'], { env: { ...process.env, KILN_HOME: HOME, KILN_USER: 'builder', KILN_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kiln serve did not start: ${stderr}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`kiln serve exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { listening?: { http: number; tftp?: number } };
      if (entry.listening) {
        clearTimeout(timer);
        if (entry.listening.tftp === undefined) reject(new Error(`kiln serve has no TFTP server: ${stderr}`));
        else resolve({ http: entry.listening.http, tftp: entry.listening.tftp });
      } else lines.push(entry as (typeof lines)[number]);
    });
  });
}

/** The URL the VM's bootloader starts from: the node's `start.ipxe`, from `kiln serve` over `kind`. */
function serveImage(kind: 'http' | 'tftp'): string {
  if (!ports) throw new Error('setup did not run');
  return kind === 'http' ? `http://${HOST_FROM_VM}:${ports.http}/boot/start.ipxe` : `tftp://${HOST_FROM_VM}:${ports.tftp}/start.ipxe`;
}

before(async () => {
  let t0 = Date.now();
  const built = json<Array<{ steps: Array<{ cached: boolean }> }>>(await ok(['image', 'build', SPEC, '--json']));
  const cached = built[0]?.steps.every((s) => s.cached) ?? false;
  setupNote = `build ${seconds(t0)} s (${cached ? 'every step cached' : 'built'})`;
  // The VM's packets reach Kiln from 127.0.0.1 (qemu's user network): that is the node's address.
  await kiln(['node', 'forget', MAC]);
  await ok(['node', 'register', MAC, '--model', MODEL, '--name', 'vm1', '--ip', '127.0.0.1', '--image', IMAGE]);
  ports = await startServe();
  // The first request for the SquashFS exports it (lz4: seconds; gzip: minutes under TCG's load); do it before the VM asks.
  t0 = Date.now();
  const warm = await fetch(`http://127.0.0.1:${ports.http}/boot/rootfs.squashfs`, { method: 'HEAD', signal: AbortSignal.timeout(600_000) });
  assert.equal(warm.status, 200, 'the node\'s SquashFS is served');
  setupNote += `, first export of the SquashFS ${seconds(t0)} s`;
});

after(async () => {
  server?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

for (const kind of ['http', 'tftp'] as const) {
  test(`iPXE boots the image's /boot/${MODEL}/start.ipxe over ${kind.toUpperCase()} from kiln serve and live-boots its SquashFS to a login prompt`, { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
    const bootfile = serveImage(kind);
    const from = lines.length;
    const run = await bootVm({ bootfile, timeoutMs: VM_TIMEOUT_MS });
    t.diagnostic(`setup: ${setupNote}`);
    t.diagnostic(`${kind}: ${run.reached.map((r) => `${r.name} ${r.seconds} s`).join(', ')}`);
    // The console shows the kernel arguments of the image's script, with the rendered rootfs URL.
    assert.match(run.console, /Kernel command line: .*boot=live fetch=http:\/\/10\.0\.2\.2:\d+\/boot\/rootfs\.squashfs ip=dhcp .*console=ttyS0,115200/);
    // Kiln served the script, kernel and initramfs over the bootloader's protocol, and the SquashFS over HTTP, all for this node.
    const served = lines.slice(from).filter((l) => l.result === 'ok' && l.node === 'vm1');
    const boot = served.filter((l) => l.protocol === kind).map((l) => l.path?.replace(/^\/(boot\/)?/, ''));
    assert.deepEqual(boot.filter((p) => p !== 'rootfs.squashfs'), ['start.ipxe', 'kernel', 'initrd']);
    assert.ok(served.some((l) => l.protocol === 'http' && l.path === '/boot/rootfs.squashfs'), 'rootfs.squashfs served over HTTP');
  });
}
