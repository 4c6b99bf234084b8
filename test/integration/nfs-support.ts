import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { KILN, runProgram, type Result } from '../helpers.ts';

/** Where a test registers its cleanups: `after(fn)` like node:test's, but run last-registered first, each awaited, none skipped when one throws. */
export interface Cleanup {
  after: (fn: () => unknown) => void;
}

/**
 * A cleanup stack on a test: processes started after a scratch directory are killed (and
 * waited for) before the directory is removed, and a failing step does not leave the others
 * undone (node:test runs its own after hooks first-registered first and stops at the first
 * that throws, which left ganesha, rpcbind and kiln serve running and the test file hanging).
 */
export function createCleanup(t: { after: (fn: () => Promise<void>) => void }): Cleanup {
  const steps: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'test cleanup failed');
  });
  return { after: (fn) => void steps.push(fn) };
}

/** Kills a process started with `detached: true` and everything in its process group, and waits (bounded) until it is gone. */
export async function killGroup(child: ChildProcess, what: string): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  const gone = await Promise.race([exited.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]);
  if (!gone) throw new Error(`${what} (pid ${child.pid}) still runs 10 s after SIGKILL`);
}

/**
 * Waits until `attempt` returns a value `done` accepts, for at most `timeoutMs`; fails saying
 * what it waited for and the last value seen. Stops early when the test is cancelled.
 */
export async function waitFor<T>(what: string, attempt: () => Promise<T>, done: (value: T) => boolean, options: { timeoutMs?: number; signal?: AbortSignal; describe?: (value: T) => string } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await attempt();
    if (done(value)) return value;
    if (Date.now() >= deadline) throw new Error(`waited ${timeoutMs / 1000} s for ${what}; last seen: ${options.describe ? options.describe(value) : JSON.stringify(value)}`);
    await sleep(200);
  }
}

/** A network namespace made by the test (loopback only, its own /run): NFS servers listen there, never on the host's network. */
export interface TestNamespace {
  /** Runs a command in the namespace (killed after 20 s). */
  inNs: (cmd: string, args: string[]) => Promise<Result>;
  /** Starts a long-running command in the namespace, in its own process group; killed (and waited for) at cleanup. */
  spawnInNs: (cmd: string, args: string[], options?: { env?: NodeJS.ProcessEnv; stdio?: 'ignore' | 'pipe' }) => ChildProcess;
}

/** Starts the namespace holder; everything started in it is killed when the test ends. */
export async function startNamespace(t: { after: (fn: () => unknown) => void }): Promise<TestNamespace> {
  const holder = spawn('unshare', ['-n', '-m', '--propagation', 'private', 'sh', '-c',
    'ip link set lo up && ip addr add 10.213.0.1/32 dev lo && mount -t tmpfs tmpfs /run && echo ready && exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  t.after(() => killGroup(holder, 'the namespace holder'));
  const ns = (): string[] => ['-t', String(holder.pid), '-n', '-m'];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('waited 30 s for the test namespace to be ready')), 30_000);
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`namespace holder exited (${code})`)));
    holder.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    inNs: (cmd, args) => runProgram('timeout', ['-k', '5', '20', 'nsenter', ...ns(), cmd, ...args]),
    spawnInNs: (cmd, args, options = {}) => {
      // nsenter without a pid namespace execs the command: the child is the server itself.
      const child = spawn('nsenter', [...ns(), cmd, ...args], { stdio: options.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'ignore', env: options.env ?? process.env, detached: true });
      t.after(() => killGroup(child, cmd));
      return child;
    },
  };
}

/** A `kiln serve` started by the test: its ports once it listens, and its stderr so far. */
export interface KilnServe {
  listening: { http: number; tftp: number; nfs?: string };
  stderr: () => string;
}

/**
 * Starts `kiln serve` with a kiln.yaml, in `options.ns` when given (there it reaches the servers
 * of the namespace); it is killed, with its process group, when the test ends. Waits at most
 * 60 s for it to say it listens.
 */
export async function startKilnServe(t: { after: (fn: () => unknown) => void }, env: NodeJS.ProcessEnv, options: { ns?: TestNamespace } = {}): Promise<KilnServe> {
  const fullEnv = { ...process.env, ...env };
  const server = options.ns
    ? options.ns.spawnInNs(KILN, ['serve'], { env: fullEnv, stdio: 'pipe' })
    : spawn(KILN, ['serve'], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (!options.ns) t.after(() => killGroup(server, 'kiln serve'));
  let stderr = '';
  server.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const listening = await new Promise<KilnServe['listening']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waited 60 s for kiln serve to listen; its stderr: ${stderr}`)), 60_000);
    if (server.stdout) {
      createInterface({ input: server.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as { listening?: KilnServe['listening'] };
        if (entry.listening) {
          clearTimeout(timer);
          resolve(entry.listening);
        }
      });
    }
    server.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`kiln serve exited: ${stderr}`));
    });
  });
  return { listening, stderr: () => stderr };
}

/** Kiln's own export-list call (what kiln serve asks ganesha after a reload), made from inside the namespace. */
export function listExportsInNs(ns: TestNamespace, port: number): () => Promise<string[]> {
  const boot = new URL('../../src/boot/index.ts', import.meta.url).href;
  const script = `const { listMountExports } = await import(${JSON.stringify(boot)}); process.stdout.write(JSON.stringify(await listMountExports('127.0.0.1', ${port})));`;
  return async () => {
    const r = await ns.inNs(process.execPath, ['--input-type=module', '--disable-warning=ExperimentalWarning', '-e', script]);
    if (r.code !== 0) throw new Error(`listing the exports in the test namespace failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as string[];
  };
}
