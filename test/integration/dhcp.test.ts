import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeDhcp, opt, DhcpMessage, DhcpOption } from '../../src/boot/dhcp-packet.ts';
import { KILN, ROOT, kilnFor, runProgram, scratch, sh, tarDir } from '../helpers.ts';

/**
 * Kiln's DHCP server against real clients: Kiln runs in one network namespace, the clients
 * (busybox udhcpc, and a raw client for proxyDHCP and refusals) in another, joined by a veth
 * pair that the test creates; nothing listens outside those namespaces.
 */
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const PROBE = join(ROOT, 'test', 'integration', 'dhcp-probe.ts');
const tag = `${process.pid % 100000}`;
const NS_SERVER = `kiln-dhcp-s${tag}`;
const NS_CLIENT = `kiln-dhcp-c${tag}`;
const VETH_S = `kds${tag}`;
const VETH_C = `kdc${tag}`;

function network(t: TestContext): void {
  const ip = (...args: string[]) => sh('ip', args);
  ip('netns', 'add', NS_SERVER);
  t.after(() => sh('ip', ['netns', 'del', NS_SERVER]));
  ip('netns', 'add', NS_CLIENT);
  t.after(() => sh('ip', ['netns', 'del', NS_CLIENT]));
  ip('link', 'add', VETH_S, 'type', 'veth', 'peer', 'name', VETH_C);
  ip('link', 'set', VETH_S, 'netns', NS_SERVER);
  ip('link', 'set', VETH_C, 'netns', NS_CLIENT);
  ip('-n', NS_SERVER, 'addr', 'add', '10.77.0.1/24', 'dev', VETH_S);
  for (const [ns, dev] of [[NS_SERVER, VETH_S], [NS_SERVER, 'lo'], [NS_CLIENT, 'lo'], [NS_CLIENT, VETH_C]] as const) ip('-n', ns, 'link', 'set', dev, 'up');
}

/** The client's interface, with another MAC and no address: another machine. */
function becomeClient(mac: string): void {
  sh('ip', ['-n', NS_CLIENT, 'link', 'set', VETH_C, 'down']);
  sh('ip', ['-n', NS_CLIENT, 'addr', 'flush', 'dev', VETH_C]);
  sh('ip', ['-n', NS_CLIENT, 'link', 'set', VETH_C, 'address', mac]);
  sh('ip', ['-n', NS_CLIENT, 'link', 'set', VETH_C, 'up']);
}

interface Lease {
  event: string;
  ip: string;
  siaddr: string;
  serverid: string;
  boot_file: string;
}

/** udhcpc's script: one JSON line per event, and the address set on bound/renew (so that renewing unicasts work). */
function udhcpcScript(dir: string): { script: string; events: string } {
  const events = join(dir, 'events.jsonl');
  const script = join(dir, 'udhcpc.sh');
  writeFileSync(script, `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"
  printf '{"event":"%s","ip":"%s","siaddr":"%s","serverid":"%s","boot_file":"%s"}\\n' "$1" "$ip" "$siaddr" "$serverid" "$boot_file" >> '${events}';;
esac
`);
  chmodSync(script, 0o755);
  return { script, events };
}

const readEvents = (file: string): Lease[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Lease) : []);

async function udhcpc(script: string, args: readonly string[]) {
  const r = await runProgram('ip', ['netns', 'exec', NS_CLIENT, 'busybox', 'udhcpc', '-f', '-q', '-n', '-t', '5', '-T', '1', '-A', '1', '-i', VETH_C, '-s', script, ...args]);
  assert.equal(r.code, 0, `udhcpc: ${r.stderr}`);
}

/** Waits (bounded) until `check` returns a value. */
async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Served {
  lines: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function serveIn(t: TestContext, home: string, config: string): Promise<Served> {
  const server = spawn('ip', ['netns', 'exec', NS_SERVER, KILN, 'serve'], { env: { ...process.env, KILN_HOME: home, KILN_USER: 'alice', KILN_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  t.after(() => server.kill('SIGKILL'));
  let stderr = '';
  server.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: Array<Record<string, unknown>> = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.listening) resolve();
      else lines.push(entry);
    });
    server.once('exit', () => reject(new Error(`kiln serve exited: ${stderr}`)));
  });
  return {
    lines,
    stop: async () => {
      server.kill('SIGTERM');
      await exited;
    },
  };
}

function imageTar(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'boot/pc-x86-64'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(root, 'boot/pc-x86-64/start.ipxe'), '#!ipxe\necho default image\n');
  return tarDir(root, join(dir, 'image.tar'));
}

test('kiln serve DHCP (authoritative) with udhcpc: pool, renewal, fixed addresses, discovery of nodes and devices, leases kept across a restart', async (t) => {
  network(t);
  const dir = scratch(t, 'kiln-dhcp');
  const home = join(dir, 'home');
  const tar = imageTar(dir);
  const platform = kilnFor(home, 'waltplatform');
  const alice = kilnFor(home, 'alice');
  for (const [run, args] of [
    [platform, ['image', 'import', tar, 'pc-x86-64-default:latest', '--label', 'walt.node.models=pc-x86-64']],
    [alice, ['image', 'import', tar, 'node:v1', '--label', 'walt.node.models=pc-x86-64']],
    [alice, ['node', 'register', '52:54:00:aa:bb:02', '--model', 'pc-x86-64', '--name', 'fixed1', '--ip', '10.77.0.50', '--image', 'node:v1']],
  ] as const) {
    const r = await run(args);
    assert.equal(r.code, 0, r.stderr);
  }
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, 'server:\n  address: 10.77.0.1\n  http_port: 0\n  tftp_port: 0\n  subnet: 10.77.0.0/24\n  dhcp: authoritative\n  dhcp_pool: 10.77.0.10-10.77.0.20\n  dhcp_lease_time: 600\n');
  let served = await serveIn(t, home, config);
  const { script, events } = udhcpcScript(dir);

  // A new PC announcing walt.node.pc-x86-64, kept running to renew.
  becomeClient('52:54:00:aa:bb:01');
  const client = spawn('ip', ['netns', 'exec', NS_CLIENT, 'busybox', 'udhcpc', '-f', '-t', '5', '-T', '1', '-A', '1', '-i', VETH_C, '-s', script, '-V', 'walt.node.pc-x86-64', '-x', 'hostname:labpc'], { stdio: 'ignore' });
  t.after(() => client.kill('SIGKILL'));
  const bound = await until('the lease', () => readEvents(events).find((e) => e.event === 'bound'));
  const pool = Number(bound.ip.split('.')[3]);
  assert.ok(bound.ip.startsWith('10.77.0.') && pool >= 10 && pool <= 20, `${bound.ip} is in the pool`);
  assert.equal(bound.serverid, '10.77.0.1');
  assert.equal(bound.siaddr, '10.77.0.1', 'next-server is Kiln');
  client.kill('SIGUSR1');
  const renewed = await until('the renewal', () => readEvents(events).find((e) => e.event === 'renew'));
  assert.equal(renewed.ip, bound.ip, 'the renewal keeps the address');
  client.kill('SIGTERM');

  // Discovery: a free node, named from its host name and MAC, on the model's default image, with its address.
  const show = async () => JSON.parse((await alice(['node', 'show', '--all', '--json'])).stdout) as { others: Array<{ name: string; model: string; mac: string; ip: string | null; ref: string; owner: string | null }>; devices: Array<{ mac: string; ip?: string; vendorClass?: string }> };
  const found = await until('the discovered node', async () => (await show()).others.find((n) => n.mac === '52:54:00:aa:bb:01' && n.ip === bound.ip));
  assert.deepEqual({ name: found.name, model: found.model, ref: found.ref, owner: found.owner }, { name: 'labpc-aabb01', model: 'pc-x86-64', ref: 'waltplatform/pc-x86-64-default:latest', owner: null });

  // A registered node gets its fixed address.
  becomeClient('52:54:00:aa:bb:02');
  await udhcpc(script, ['-V', 'walt.node.pc-x86-64']);
  assert.equal(readEvents(events).at(-1)?.ip, '10.77.0.50');

  // A device without the class: an address, recorded as an unknown device, not a node.
  becomeClient('52:54:00:aa:bb:03');
  await udhcpc(script, []);
  const deviceIp = readEvents(events).at(-1)!.ip;
  assert.notEqual(deviceIp, bound.ip);
  const device = await until('the unknown device', async () => (await show()).devices.find((d) => d.mac === '52:54:00:aa:bb:03' && d.ip === deviceIp));
  assert.match(device.vendorClass ?? '', /^udhcp /u, 'its vendor class');
  assert.equal((await show()).others.find((n) => n.mac === '52:54:00:aa:bb:03'), undefined);
  const text = await alice(['node', 'show', '--all']);
  assert.match(text.stdout, /Unknown devices[\s\S]*52:54:00:aa:bb:03/u);

  // One structured line per exchange.
  const offer = served.lines.find((l) => l.protocol === 'dhcp' && l.client === '52:54:00:aa:bb:01' && l.message === 'DISCOVER');
  assert.deepEqual({ result: offer?.result, model: offer?.model, vendorClass: offer?.vendorClass }, { result: 'offer', model: 'pc-x86-64', vendorClass: 'walt.node.pc-x86-64' });

  // A restart keeps the leases: the unknown device gets its address back.
  await served.stop();
  served = await serveIn(t, home, config);
  becomeClient('52:54:00:aa:bb:03');
  await udhcpc(script, []);
  assert.equal(readEvents(events).at(-1)?.ip, deviceIp, 'the lease survived the restart');

  // A wrong address in our subnet is refused (NAK); garbage is dropped without harm.
  sh('ip', ['-n', NS_CLIENT, 'addr', 'add', '10.77.0.200/24', 'dev', VETH_C]);
  const nakProbe = await runProgram('ip', ['netns', 'exec', NS_CLIENT, NODE, PROBE, '10.77.0.255', '67',
    'raw:ff00ff00', `raw:${Buffer.alloc(400, 0x63).toString('hex')}`,
    packet(DhcpMessage.REQUEST, [0x52, 0x54, 0x00, 0xaa, 0xbb, 0x03], [[DhcpOption.REQUESTED_IP, opt.ip('10.77.0.99')]]).toString('hex')]);
  assert.equal(nakProbe.code, 0, nakProbe.stderr);
  assert.equal((JSON.parse(nakProbe.stdout.trim()) as { type: number }).type, DhcpMessage.NAK);
  await served.stop();
});

function packet(type: number, mac: number[], options: Array<readonly [number, Buffer]>): Buffer {
  return encodeDhcp({
    op: 1, xid: Math.floor(Math.random() * 0xffffffff), flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: Buffer.from(mac), options: [[DhcpOption.MESSAGE_TYPE, opt.byte(type)], ...options],
  });
}

test('kiln serve proxyDHCP: PXE firmware gets the boot file and no address, on 67 and on 4011; other clients are left to the network\'s server', async (t) => {
  network(t);
  const dir = scratch(t, 'kiln-dhcp-proxy');
  const home = join(dir, 'home');
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, 'server:\n  address: 10.77.0.1\n  http_port: 0\n  tftp_port: 0\n  subnet: 10.77.0.0/24\n  dhcp: proxy\n');
  const served = await serveIn(t, home, config);
  // The network's own DHCP server gave the client its address.
  sh('ip', ['-n', NS_CLIENT, 'addr', 'add', '10.77.0.80/24', 'dev', VETH_C]);
  const mac = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0x09];
  const bios: Array<readonly [number, Buffer]> = [[DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00000:UNDI:002001')], [DhcpOption.CLIENT_ARCH, Buffer.from([0, 0])]];
  const uefi: Array<readonly [number, Buffer]> = [[DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00007:UNDI:003016')], [DhcpOption.CLIENT_ARCH, Buffer.from([0, 7])]];
  const plain = packet(DhcpMessage.DISCOVER, mac, [[DhcpOption.VENDOR_CLASS, opt.text('udhcp 1.35.0')]]);
  const r = await runProgram('ip', ['netns', 'exec', NS_CLIENT, NODE, PROBE, '10.77.0.255', '67', `raw:${plain.toString('hex')}`, packet(DhcpMessage.DISCOVER, mac, bios).toString('hex')]);
  assert.equal(r.code, 0, r.stderr);
  const offer = JSON.parse(r.stdout.trim()) as { yiaddr: string; siaddr: string; file: string; type: number; options: Record<string, string> };
  assert.deepEqual({ type: offer.type, yiaddr: offer.yiaddr, siaddr: offer.siaddr, file: offer.file, vendor: offer.options['60'] }, { type: DhcpMessage.OFFER, yiaddr: '0.0.0.0', siaddr: '10.77.0.1', file: 'undionly.kpxe', vendor: 'PXEClient' });
  assert.equal(offer.options['51'], undefined, 'no lease');
  const pxe = await runProgram('ip', ['netns', 'exec', NS_CLIENT, NODE, PROBE, '10.77.0.1', '4011', packet(DhcpMessage.REQUEST, mac, uefi).toString('hex')]);
  assert.equal(pxe.code, 0, pxe.stderr);
  const ack = JSON.parse(pxe.stdout.trim()) as { yiaddr: string; file: string; type: number };
  assert.deepEqual({ type: ack.type, yiaddr: ack.yiaddr, file: ack.file }, { type: DhcpMessage.ACK, yiaddr: '0.0.0.0', file: 'snponly.efi' });
  await until('the log lines', () => (served.lines.filter((l) => l.protocol === 'dhcp').length >= 3 ? true : undefined));
  assert.deepEqual(served.lines.filter((l) => l.protocol === 'dhcp').map((l) => [l.message, l.result, l.port]), [['DISCOVER', 'ignored', 67], ['DISCOVER', 'offer', 67], ['REQUEST', 'ack', 4011]]);
  await served.stop();
});
