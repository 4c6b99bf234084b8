import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KilnError, ErrorCode, isKilnError, isProcessAlive, run, type Logger } from '../core/index.ts';
import {
  abandonedNetworks, acceleratorFor, cleanConsole, consoleTail, createMilestoneTracker, createPrivateNetwork, kvmUsable, milestonesFor, randomMac, removeNetwork, startVm, vmProfileFor,
  type BootMode, type PrivateNetwork, type Reached, type RunningVm, type ServeEvent,
} from '../boottest/index.ts';
import { BOOT_MODE_SETTING, createArtifactSource, isBootFile, shQuote } from '../boot/index.ts';
import { LABELS, discoveredNodeName, formatImageRef, parseImageRef, type ImageRef } from '../store/index.ts';
import type { Core } from './core.ts';
import { defaultImageRef } from './default-ref.ts';
import { pinnedSshOptions } from './node-ssh.ts';
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
  /** A shell command run on the booted node over SSH (nfs mode: the node's identity lets the server's key in); its output is in the outcome. */
  run?: string;
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
  /** What `run` printed on the node, and its exit status. */
  ran?: { command: string; status: number; stdout: string; stderr: string };
}

const DEFAULT_TIMEOUT_S = 300;

function bootTestError(message: string, hint: string): KilnError {
  return new KilnError(ErrorCode.UNSUPPORTED, message, { hint });
}

/** What the VM boots as: the node name and the image it is given, checked before anything starts. */
function plan(core: Core, req: Resolved, name: string, o: BootTestRequest): { ref: ImageRef; model: string; mode: BootMode } {
  const mode = o.mode ?? 'nfs';
  if (mode === 'live' && o.run !== undefined) {
    throw bootTestError('boot-test --run needs --mode nfs: a live-booted node gets no identity from Kiln (walt-init does not run), so root\'s authorized_keys lacks the server\'s key and its host key is not pinned', 'use --mode nfs, or drop --run (live mode checks that port 22 answers)');
  }
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

/** Where the ganesha.nfsd of an nfs boot test keeps its configuration (written by kiln serve), pid and log. */
function ganeshaFiles(dir: string): { config: string; pid: string; log: string } {
  return { config: join(dir, 'ganesha.conf'), pid: join(dir, 'ganesha.pid'), log: join(dir, 'ganesha.log') };
}

/**
 * The private kiln.yaml of the boot server: Kiln's DHCP, TFTP and HTTP on the private network,
 * nodes booting Kiln's script for the mode (a discovered node has no setting of its own yet),
 * and in nfs mode the NFS roots served by ganesha (user space: the namespace needs no kernel NFS server).
 */
function serverConfig(core: Core, net: PrivateNetwork, mode: BootMode, dir: string): string {
  const ganesha = ganeshaFiles(dir);
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
    `  boot_mode: ${mode}`,
    ...(mode === 'nfs' ? ['  nfs: ganesha', `  nfs_ganesha_config: ${ganesha.config}`, `  nfs_ganesha_pid: ${ganesha.pid}`] : ['  nfs: off']),
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

/** Runs a program in the namespace to its end (bounded), collecting its output. */
function runIn(net: PrivateNetwork, argv: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<{ status: number; stdout: string; stderr: string }> {
  const [cmd = '', ...args] = net.exec(argv);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL', signal });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    child.once('error', (err) => resolve({ status: 255, stdout, stderr: `${stderr}${err.message}` }));
    child.once('close', (code) => resolve({ status: code ?? 255, stdout, stderr }));
  });
}

/**
 * The NFS server of an nfs boot test in the namespace: rpcbind, then ganesha.nfsd on kiln
 * serve's configuration, in a mount namespace of their own with a private /run (rpcbind's
 * lock and socket live there: a host that already runs rpcbind, for its own NFS, keeps it).
 * One process group: stopping it stops both.
 */
async function startNfsServer(net: PrivateNetwork, dir: string, signal: AbortSignal): Promise<ChildProcess[]> {
  const files = ganeshaFiles(dir);
  if (!existsSync(files.config)) throw new KilnError(ErrorCode.TOOL_FAILED, `kiln serve wrote no ganesha configuration (${files.config})`, { hint: 'kiln serve with server.nfs: ganesha writes it before it listens' });
  const script = [
    'mount -t tmpfs -o mode=0755 tmpfs /run || exit 10',
    'rpcbind -w -f &',
    'i=0; until rpcinfo -p 127.0.0.1 >/dev/null 2>&1; do i=$((i+1)); [ "$i" -ge 100 ] && exit 11; sleep 0.1; done',
    'echo rpcbind-ready >&2',
    `exec ganesha.nfsd -F -f ${shQuote(files.config)} -L ${shQuote(files.log)} -N NIV_EVENT -p ${shQuote(files.pid)}`,
  ].join('\n');
  const [cmd = '', ...args] = net.exec(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  child.once('error', () => undefined);
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string): void => reject(new KilnError(ErrorCode.TOOL_FAILED, `the NFS server did not start in ${net.name}: ${why}`, { hint: 'needs rpcbind, nfs-ganesha and nfs-ganesha-vfs (apt-get install rpcbind nfs-ganesha nfs-ganesha-vfs)' }));
      const timer = setTimeout(() => fail('rpcbind did not answer within 30 s'), 30_000);
      signal.addEventListener('abort', () => fail('interrupted'), { once: true });
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-4096);
        if (stderr.includes('rpcbind-ready')) { clearTimeout(timer); resolve(); }
      });
      child.once('exit', (code) => { clearTimeout(timer); fail(`exit status ${code ?? 'signal'}${code === 10 ? ' (no private /run)' : code === 11 ? ' (rpcbind did not answer)' : ''}: ${stderr.trim().slice(-300)}`); });
    });
    return [child];
  } catch (err) {
    await stopGroup(child);
    throw err;
  }
}

/** ganesha's last log lines, for failure reports. */
function ganeshaLog(dir: string): string {
  const log = ganeshaFiles(dir).log;
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.trim() && !l.includes('TIRPC')).slice(-10).join('\n') : '';
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** Stops the whole process group a detached child leads (its leader may be gone, its members not), SIGKILL after 5 s. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const kill = (sig: NodeJS.Signals | 0): boolean => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
      return true;
    } catch {
      return false;
    }
  };
  if (!kill('SIGTERM')) return;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (!kill(0)) return;
  }
  kill('SIGKILL');
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
  // The node's address: the one registered, or the one Kiln's DHCP gave the discovered node.
  let nodeIp: string | undefined;
  let sshStarted = false;
  let sshOptions: string[] = [];
  let net: PrivateNetwork | undefined;
  const record = (found: Reached[]) => {
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    for (const r of found) {
      const m: BootMilestone = { name: r.name, seconds, ...(r.detail ? { detail: r.detail } : {}) };
      milestones.push(m);
      o.onMilestone?.(m);
    }
    if (tracker.done()) finish();
    else if (!sshStarted && net && tracker.waiting() === 'SSH answering') {
      sshStarted = true;
      void waitForSsh(net).then((detail) => record(tracker.reach('SSH answering', detail)), (err: Error) => finish(err.message));
    }
  };
  /** Tries SSH every 2 s until it answers or the boot test ends: nfs mode logs in as root with the pinned host key; live mode sees the SSH banner on port 22. */
  const waitForSsh = async (network: PrivateNetwork): Promise<string> => {
    let last = '';
    while (!stop.signal.aborted && !finished) {
      const ip = nodeIp ?? '';
      if (mode === 'nfs') {
        const r = await runIn(network, ['ssh', ...sshOptions, '-p', '22', `root@${ip}`, '--', 'true'], 30_000, stop.signal);
        if (r.status === 0) return `root@${ip}, host key pinned`;
        last = r.stderr.trim();
      } else {
        const r = await runIn(network, ['ssh-keyscan', '-T', '5', ip], 15_000, stop.signal);
        if (/\bssh-|ecdsa-/u.test(r.stdout)) return `port 22 of ${ip} answering (live mode: no identity, so no root login)`;
        last = r.stderr.trim().split('\n').pop() ?? '';
      }
      req.logger.debug(`ssh to ${ip}: ${last || 'no answer'}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    throw new Error(`SSH did not answer${last ? ` (${last})` : ''}`);
  };
  let finished = false;
  void ended.then(() => (finished = true));
  const onEvent = (e: ServeEvent) => {
    if (e.protocol === 'dhcp' && e.result === 'ack' && e.client === mac && e.ip) nodeIp = e.ip;
    record(tracker.event(e));
  };
  // The node's boot artifacts, exported before the VM asks (an export can outlast the initramfs' download
  // timeout), and before anything that needs cleaning up exists.
  if (mode === 'live') await prepareArtifacts(core, req, ref);
  if (stop.signal.aborted) throw new KilnError(ErrorCode.USAGE, 'boot-test stopped', { hint: 'nothing was left behind' });
  await sweepAbandonedBootTests(core, req.logger);
  const dir = await mkdtemp(join(tmpdir(), `${WORK_PREFIX}${process.pid}-`));
  let server: ChildProcess | undefined;
  let nfsDaemons: ChildProcess[] = [];
  let vm: RunningVm | undefined;
  let raw = '';
  try {
    net = await createPrivateNetwork(mac);
    const config = join(dir, 'kiln.yaml');
    await writeFile(config, serverConfig(core, net, mode, dir));
    if (!o.newNode) {
      // A fixed address for the node: DHCP hands it out, TFTP and HTTP find the node by it.
      await table.register({ mac, ip: net.pool.first, name: nodeName, model, image: ref, owner: req.user });
      await table.configure(mac, { [BOOT_MODE_SETTING]: mode });
      nodeIp = net.pool.first;
    }
    server = await startServer(core, req, o, net, config, onEvent, stop.signal);
    if (mode === 'nfs') nfsDaemons = await startNfsServer(net, dir, stop.signal);
    sshOptions = await pinnedSshOptions(core.store(), { mac, ip: '*', port: 22 }, dir);
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
    let reason = await ended;
    clearTimeout(timer);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const waiting = tracker.waiting();
    let ran: BootTestOutcome['ran'];
    if (reason === undefined && o.run !== undefined) {
      const r = await runIn(net, ['ssh', ...sshOptions, '-p', '22', `root@${nodeIp ?? ''}`, '--', o.run], 60_000, stop.signal);
      ran = { command: o.run, status: r.status, stdout: r.stdout, stderr: r.stderr };
      if (r.status !== 0) reason = `\`${o.run}\` on the node ended with status ${r.status}: ${r.stderr.trim() || '-'}`;
    }
    const nfsLog = mode === 'nfs' && reason !== undefined ? ganeshaLog(dir) : '';
    return {
      image: formatImageRef(ref), model, mode, accel, mac, node: nodeName, ok: reason === undefined, seconds, milestones,
      ...(ran ? { ran } : {}),
      ...(reason !== undefined ? { reason, console: consoleTail(cleanConsole(raw)) + (nfsLog ? `\n--- ganesha.nfsd log:\n${nfsLog}` : ''), ...(waiting ? { waiting } : {}) } : {}),
    };
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    await vm?.stop();
    await stopProcess(server);
    await Promise.all(nfsDaemons.map((c) => stopGroup(c)));
    // The store as before the run: the node (registered or discovered), its lease, and no device left.
    await table.forget([mac]).catch((err: unknown) => req.logger.warn(`forgetting the boot-test node ${mac}: ${(err as Error).message}`));
    await table.dropLease(mac).catch((err: unknown) => req.logger.warn(`dropping the lease of ${mac}: ${(err as Error).message}`));
    await net?.remove().catch((err: unknown) => req.logger.warn(`removing the network namespace ${net?.name}: ${(err as Error).message}`));
    // The temporary node's state (persist directory, host keys): its MAC is random, never seen again.
    await rm(join(core.store().dirs.cacheDir('node-state'), mac), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/** A boot test's work directory under the system's temporary directory: `kiln-boot-test-<pid>-…`. */
const WORK_PREFIX = 'kiln-boot-test-';

/**
 * Removes what boot tests killed outright (SIGKILL, before their own clean-up) left behind:
 * their namespace and whatever still runs in it, their node with its lease and state, and
 * their work directory. Each is named after its process, so a running test is never touched.
 * Runs before each boot test and with `kiln store gc`; without iproute2 there is no namespace to find.
 */
export async function sweepAbandonedBootTests(core: Core, logger: Logger): Promise<number> {
  let networks: Awaited<ReturnType<typeof abandonedNetworks>>;
  try {
    networks = await abandonedNetworks();
  } catch (err) {
    if (isKilnError(err) && err.code === ErrorCode.TOOL_MISSING) return 0;
    throw err;
  }
  const table = core.store().nodes;
  for (const { name, mac } of networks) {
    await removeNetwork(name);
    if (table.findByMac(mac)) await table.forget([mac]);
    await table.dropLease(mac);
    await rm(join(core.store().dirs.cacheDir('node-state'), mac), { recursive: true, force: true });
    logger.info(`removed what a killed boot test left: network namespace ${name} and node ${mac}`);
  }
  for (const entry of await readdir(tmpdir())) {
    const pid = /^kiln-boot-test-(\d+)-/u.exec(entry)?.[1];
    if (pid !== undefined && !isProcessAlive(Number(pid))) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
  return networks.length;
}
