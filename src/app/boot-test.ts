import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KilnError, ErrorCode, run } from '../core/index.ts';
import {
  acceleratorFor, cleanConsole, consoleTail, createMilestoneTracker, createPrivateNetwork, kvmUsable, milestonesFor, randomMac, startVm, vmProfileFor,
  type BootMode, type PrivateNetwork, type Reached, type RunningVm, type ServeEvent,
} from '../boottest/index.ts';
import { createArtifactSource, isBootFile } from '../boot/index.ts';
import { LABELS, discoveredNodeName, formatImageRef, parseImageRef, type ImageRef } from '../store/index.ts';
import type { Core } from './core.ts';
import { defaultImageRef } from './default-ref.ts';
import type { Resolved } from './request.ts';

/** What `kiln image boot-test` is asked. */
export interface BootTestRequest {
  /** The node model to emulate (default: the image's first `walt.node.models`). */
  model?: string | undefined;
  mode?: BootMode;
  /** qemu's accelerator; auto (the default): KVM when it works, else TCG. */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** The whole boot is bounded by this (default 300 s). */
  timeoutSeconds?: number;
  /** Boot as a brand-new, unregistered PC: Kiln's DHCP must discover it (the image must be the model's default image). */
  newNode?: boolean;
  /** The argv that runs `kiln` (the edge passes its own): the boot server is `kiln serve` inside the private network. */
  kilnCommand: readonly string[];
  /** Hears each milestone as it is reached. */
  onMilestone?: (m: BootMilestone) => void;
}

/** A milestone of the boot and when it was reached (seconds since the VM started). */
export interface BootMilestone {
  name: string;
  seconds: number;
  detail?: string;
}

/** The outcome of a boot test: reached milestones, and on failure why and the console's last lines. */
export interface BootTestOutcome {
  image: string;
  model: string;
  mode: BootMode;
  accel: 'kvm' | 'tcg';
  mac: string;
  node: string;
  ok: boolean;
  seconds: number;
  milestones: BootMilestone[];
  waiting?: string;
  reason?: string;
  console?: string;
}

const DEFAULT_TIMEOUT_S = 300;

function bootTestError(message: string, hint: string): KilnError {
  return new KilnError(ErrorCode.UNSUPPORTED, message, { hint });
}

/** What the VM boots as: the node name and the image it is given, checked before anything starts. */
function plan(core: Core, req: Resolved, name: string, o: BootTestRequest): { ref: ImageRef; model: string; mode: BootMode } {
  const mode = o.mode ?? 'live';
  if (mode === 'nfs') throw bootTestError('boot-test --mode nfs is not available yet: kiln serve does not export root filesystems over NFS', 'use --mode live (the image\'s SquashFS over HTTP)');
  const record = core.store().getImage(parseImageRef(name, req.user, { allowReserved: true }));
  const claimed = (record.labels[LABELS.models] ?? '').split(',').map((m) => m.trim()).filter(Boolean);
  const model = o.model ?? claimed[0];
  if (model !== undefined) vmProfileFor(model);
  if (model === undefined) throw new KilnError(ErrorCode.CHECK_FAILED, `${formatImageRef(record.ref)} has no label ${LABELS.models}: it is not a node image`, { hint: 'build it with labels: walt.node.models: <model>' });
  if (!claimed.includes(model)) throw new KilnError(ErrorCode.CHECK_FAILED, `${formatImageRef(record.ref)} does not claim model ${model} (${LABELS.models}: ${claimed.join(', ')})`, { hint: `boot-test one of its models: --model ${claimed[0]}` });
  if (o.newNode && formatImageRef(record.ref) !== formatImageRef(defaultImageRef(model))) {
    throw new KilnError(ErrorCode.USAGE, `--new-node boots what Kiln gives a new ${model}: its default image ${formatImageRef(defaultImageRef(model))}, not ${formatImageRef(record.ref)}`, { hint: `boot-test ${formatImageRef(defaultImageRef(model))} --new-node, or drop --new-node` });
  }
  return { ref: record.ref, model, mode };
}

/** The private kiln.yaml of the boot server: Kiln's DHCP, TFTP and HTTP on the private network. */
function serverConfig(core: Core, net: PrivateNetwork): string {
  return [
    'server:',
    `  address: ${net.serverIp}`,
    `  subnet: ${net.subnet}`,
    '  dhcp: authoritative',
    `  dhcp_pool: ${net.pool.first}-${net.pool.last}`,
    '  dhcp_lease_time: 600',
    '  tftp_port: 69',
    '  http_port: 80',
    `  rootfs_compression: ${core.config.server.rootfs_compression}`,
    '',
  ].join('\n');
}

/** Starts `kiln serve` in the namespace; resolves once it listens. Its JSON lines go to `onEvent`. */
function startServer(core: Core, req: Resolved, o: BootTestRequest, net: PrivateNetwork, config: string, onEvent: (e: ServeEvent) => void, signal: AbortSignal): Promise<ChildProcess> {
  const [cmd = '', ...args] = net.exec([...o.kilnCommand, 'serve']);
  const env = { ...core.env, KILN_CONFIG: config, KILN_USER: req.user };
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new KilnError(ErrorCode.TOOL_FAILED, `the boot server (kiln serve in ${net.name}) ${why}: ${stderr.trim() || '-'}`, { hint: 'kiln serve needs the ports 67, 69 and 80 of the private network; run boot-test as root' }));
    child.once('exit', (code) => fail(`exited (${code})`));
    child.once('error', (err) => fail(err.message));
    signal.addEventListener('abort', () => fail('was stopped'), { once: true });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: ServeEvent & { listening?: unknown };
      try {
        entry = JSON.parse(line) as ServeEvent & { listening?: unknown };
      } catch (err) {
        req.logger.debug(`boot server: ${line} (${(err as Error).message})`);
        return;
      }
      if (entry.listening) resolve(child);
      else onEvent(entry);
    });
  });
}

/** Exports the image's boot artifacts into the boot cache kiln serve reads, as its first request would. */
async function prepareArtifacts(core: Core, req: Resolved, ref: ImageRef): Promise<void> {
  const store = core.store();
  const record = store.getImage(ref);
  req.logger.info(`exporting the boot artifacts of ${formatImageRef(ref)} (once per image)`);
  const artifacts = createArtifactSource(store, `${store.dirs.cacheDir('boot')}/artifacts`, req.logger, core.config.server.rootfs_compression);
  const answer = await artifacts.open(record, 'rootfs.squashfs');
  if (!isBootFile(answer)) throw new KilnError(ErrorCode.CHECK_FAILED, `${formatImageRef(ref)} cannot live-boot: ${answer.detail}`, { hint: '`kiln image check` lists what a node image needs' });
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/**
 * Boots an image in a qemu VM on a private network namespace against Kiln's own DHCP, TFTP
 * and HTTP, and reports the milestones of its boot. The node it registers (or discovers), its
 * lease and the namespace are gone when this returns, whatever happened.
 */
export async function bootTest(core: Core, req: Resolved, name: string, o: BootTestRequest): Promise<BootTestOutcome> {
  const { ref, model, mode } = plan(core, req, name, o);
  const profile = vmProfileFor(model);
  await run('which', [profile.qemu]).catch(() => {
    throw new KilnError(ErrorCode.TOOL_MISSING, `${profile.qemu} not found`, { hint: `install ${profile.qemuPackage}: apt-get install ${profile.qemuPackage} ipxe-qemu` });
  });
  const accel = o.accel === undefined || o.accel === 'auto' ? acceleratorFor(await kvmUsable()) : o.accel;
  const mac = randomMac(randomBytes(6));
  const table = core.store().nodes;
  const nodeName = o.newNode ? discoveredNodeName(model, mac) : `boot-test-${mac.replace(/:/gu, '').slice(-6)}`;
  const tracker = createMilestoneTracker(milestonesFor(mode), { mac, name: nodeName });
  const timeoutMs = (o.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  const milestones: BootMilestone[] = [];
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  let started = Date.now();
  let finish: (reason?: string) => void = () => undefined;
  const ended = new Promise<string | undefined>((resolve) => (finish = resolve));
  const record = (found: Reached[]) => {
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    for (const r of found) {
      const m: BootMilestone = { name: r.name, seconds, ...(r.detail ? { detail: r.detail } : {}) };
      milestones.push(m);
      o.onMilestone?.(m);
    }
    if (tracker.done()) finish();
  };
  // The node's boot artifacts, exported before the VM asks (an export can outlast the initramfs' download
  // timeout), and before anything that needs cleaning up exists.
  if (mode === 'live') await prepareArtifacts(core, req, ref);
  if (stop.signal.aborted) throw new KilnError(ErrorCode.USAGE, 'boot-test stopped', { hint: 'nothing was left behind' });
  const dir = await mkdtemp(join(tmpdir(), 'kiln-boot-test-'));
  let net: PrivateNetwork | undefined;
  let server: ChildProcess | undefined;
  let vm: RunningVm | undefined;
  let raw = '';
  try {
    net = await createPrivateNetwork();
    const config = join(dir, 'kiln.yaml');
    await writeFile(config, serverConfig(core, net));
    if (!o.newNode) {
      // A fixed address for the node: DHCP hands it out, TFTP and HTTP find the node by it.
      await table.register({ mac, ip: net.pool.first, name: nodeName, model, image: ref, owner: req.user });
    }
    server = await startServer(core, req, o, net, config, (e) => record(tracker.event(e)), stop.signal);
    started = Date.now();
    vm = startVm({ profile, accel, mac, tap: net.tap, wrap: net.exec });
    vm.onConsole((text) => {
      raw += text;
      record(tracker.console(cleanConsole(raw)));
    });
    const running = vm;
    void running.exited.then((how) => finish(`qemu ended (${how}) before the boot completed${running.stderr().trim() ? `: ${running.stderr().trim()}` : ''}`), (err: Error) => finish(err.message));
    const timer = setTimeout(() => finish(`the boot did not reach "${tracker.waiting()}" within ${timeoutMs / 1000} s`), timeoutMs);
    stop.signal.addEventListener('abort', () => finish('stopped'), { once: true });
    const reason = await ended;
    clearTimeout(timer);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const waiting = tracker.waiting();
    return {
      image: formatImageRef(ref), model, mode, accel, mac, node: nodeName, ok: reason === undefined, seconds, milestones,
      ...(reason !== undefined ? { reason, console: consoleTail(cleanConsole(raw)), ...(waiting ? { waiting } : {}) } : {}),
    };
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    await vm?.stop();
    await stopProcess(server);
    // The store as before the run: the node (registered or discovered), its lease, and no device left.
    await table.forget([mac]).catch((err: unknown) => req.logger.warn(`forgetting the boot-test node ${mac}: ${(err as Error).message}`));
    await table.dropLease(mac).catch((err: unknown) => req.logger.warn(`dropping the lease of ${mac}: ${(err as Error).message}`));
    await net?.remove().catch((err: unknown) => req.logger.warn(`removing the network namespace ${net?.name}: ${(err as Error).message}`));
    await rm(dir, { recursive: true, force: true });
  }
}
