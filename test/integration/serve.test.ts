import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KILN, kilnFor, runProgram, scratch, tarDir } from '../helpers.ts';

const KERNEL = `kernel 6.1.0-1-amd64\n${'k'.repeat(200_000)}\n`;

/** A node image: a pc-x86-64 boot directory with an absolute symlink to the kernel, and a template. */
function nodeRoot(dir: string, script: string): string {
  const root = join(dir, `root-${script.length}`);
  for (const d of ['etc/walt', 'boot/pc-x86-64']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(root, 'etc/ntp.conf'), 'server %(server_ip)s iburst\n');
  writeFileSync(join(root, 'etc/walt/image.spec'), '{"templates": ["/etc/ntp.conf"]}\n');
  writeFileSync(join(root, 'boot/vmlinuz-6.1.0-1-amd64'), KERNEL);
  writeFileSync(join(root, 'boot/initrd.img-6.1.0-1-amd64'), 'initrd\n');
  writeFileSync(join(root, 'boot/pc-x86-64/start.ipxe'), script);
  symlinkSync('/boot/vmlinuz-6.1.0-1-amd64', join(root, 'boot/pc-x86-64/kernel'));
  symlinkSync('/etc/ntp.conf', join(root, 'boot/pc-x86-64/ntp.conf'));
  return root;
}

async function curl(args: readonly string[]): Promise<{ status: number; headers: string; body: string }> {
  // Headers then body on stdout (-D -): a spawned child's stderr is a socket, which /dev/stderr cannot open.
  const r = await runProgram('curl', ['-sS', '--noproxy', '*', '-D', '-', ...(args.includes('-I') ? [] : ['-o', '-']), ...args]);
  const split = r.stdout.indexOf('\r\n\r\n');
  const headers = split < 0 ? r.stdout : r.stdout.slice(0, split);
  const status = Number(/HTTP\/1\.1 (\d+)/u.exec(headers)?.[1] ?? 0);
  return { status, headers: headers.toLowerCase(), body: split < 0 ? '' : r.stdout.slice(split + 4) };
}

test('kiln serve: a node\'s files over HTTP from its image, templates, artifacts, the fallback, and changes picked up live', async (t) => {
  const dir = scratch(t, 'kiln-serve');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const ok = async (args: readonly string[]) => {
    const r = await kiln(args);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  await ok(['image', 'import', tarDir(nodeRoot(dir, '#!ipxe\necho v1\n'), join(dir, 'v1.tar'), 'gzip'), 'node:v1', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  await ok(['node', 'register', '52:54:00:00:00:01', '--model', 'pc-x86-64', '--name', 'pc1', '--ip', '127.0.0.1', '--image', 'node:v1']);
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, 'server:\n  address: 127.0.0.1\n  server_ip: 192.0.2.7\n  http_port: 0\n  tftp_port: 0\n');

  const server = spawn(KILN, ['serve'], { env: { ...process.env, KILN_HOME: home, KILN_USER: 'alice', KILN_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  t.after(() => server.kill('SIGKILL'));
  let stderr = '';
  server.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: Array<Record<string, unknown>> = [];
  const ready = new Promise<number>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown> & { listening?: { http: number } };
      if (entry.listening) resolve(entry.listening.http);
      else lines.push(entry);
    });
    server.once('exit', () => reject(new Error(`kiln serve exited: ${stderr}`)));
  });
  const port = await ready;
  const base = `http://127.0.0.1:${port}`;

  const script = await curl([`${base}/boot/start.ipxe`]);
  assert.equal(script.status, 200, script.body);
  assert.equal(script.body, '#!ipxe\necho v1\n');

  const kernel = await curl([`${base}/boot/kernel`]);
  assert.equal(kernel.status, 200, 'the absolute symlink resolves inside the image');
  assert.equal(kernel.body, KERNEL);
  const etag = /etag: (".*")/u.exec(kernel.headers)?.[1] as string;
  assert.ok(etag);

  const part = await curl(['-r', '7-19', `${base}/boot/kernel`]);
  assert.equal(part.status, 206);
  assert.match(part.headers, new RegExp(`content-range: bytes 7-19/${KERNEL.length}`, 'u'));
  assert.equal(part.body, KERNEL.slice(7, 20));
  assert.equal((await curl(['-r', `${KERNEL.length}-`, `${base}/boot/kernel`])).status, 416);

  const head = await curl(['-I', `${base}/boot/kernel`]);
  assert.equal(head.status, 200);
  assert.match(head.headers, new RegExp(`content-length: ${KERNEL.length}`, 'u'));
  assert.equal((await curl(['-H', `If-None-Match: ${etag}`, `${base}/boot/kernel`])).status, 304);

  assert.equal((await curl(['--path-as-is', `${base}/boot/../../etc/os-release`])).status, 403, '".." climbing out of /boot/<model>/ is refused');
  assert.equal((await curl([`${base}/boot/a/..%2f..%2f..%2fetc%2fos-release`])).status, 403);
  assert.equal((await curl([`${base}/boot/missing`])).status, 404);

  const ntp = await curl([`${base}/boot/ntp.conf`]);
  assert.equal(ntp.body, 'server 192.0.2.7 iburst\n', 'the template gets the server address; the image keeps its text');

  const stranger = await curl(['--interface', '127.0.0.2', `${base}/boot/start.ipxe`]);
  assert.equal(stranger.status, 200);
  assert.match(stranger.body, /^#!ipxe\n[\s\S]*sleep 10\n/u, 'an unknown client gets the retry script');
  assert.equal((await curl(['--interface', '127.0.0.2', `${base}/boot/kernel`])).status, 404);

  // A boot artifact: exported on first request, then served with ranges.
  const rootfs = await curl(['-r', '0-3', `${base}/boot/rootfs.squashfs`]);
  assert.equal(rootfs.status, 206, rootfs.body);
  assert.equal(rootfs.body, 'hsqs', 'SquashFS magic');
  const named = await curl(['-I', `${base}/images/alice/node/v1/rootfs.squashfs`]);
  assert.equal(named.status, 200);
  assert.equal((await curl([`${base}/images/alice/node/v1/kiln.db`])).status, 404);

  // A new image under the node's name while serving: the next request sees it.
  await ok(['image', 'import', tarDir(nodeRoot(dir, '#!ipxe\necho v2 is here\n'), join(dir, 'v2.tar')), 'node:v1', '--force', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  assert.equal((await curl([`${base}/boot/start.ipxe`])).body, '#!ipxe\necho v2 is here\n');

  // The node's last boot request is in the catalog (recorded after the request is served).
  let shown: Array<{ name: string; lastBoot?: { path: string } }> = [];
  for (let i = 0; i < 50 && shown[0]?.lastBoot?.path !== '/boot/start.ipxe'; i++) {
    shown = (JSON.parse((await ok(['node', 'show', '--json'])).stdout) as { mine: typeof shown }).mine;
    if (shown[0]?.lastBoot?.path !== '/boot/start.ipxe') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(shown[0]?.lastBoot?.path, '/boot/start.ipxe', 'kiln node show has the last boot request');

  server.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  // The whole kernel (other requests for it asked for ranges).
  const served = lines.find((l) => l.path === '/boot/kernel' && l.result === 'ok' && l.bytes === KERNEL.length);
  assert.deepEqual({ node: served?.node, served: served?.served, bytes: served?.bytes, protocol: served?.protocol }, { node: 'pc1', served: 'alice/node:v1:/boot/vmlinuz-6.1.0-1-amd64', bytes: KERNEL.length, protocol: 'http' });
  assert.ok(lines.some((l) => l.result === 'forbidden'));
  assert.ok(lines.some((l) => l.result === 'unknown-client'));
});
