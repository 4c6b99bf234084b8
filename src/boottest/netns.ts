import { randomBytes } from 'node:crypto';
import { isProcessAlive, run } from '../core/index.ts';

/** A private network: a namespace holding a bridge with the server's address and a tap for the VM. */
export interface PrivateNetwork {
  /** The namespace's name (`kiln-bt-<hex>`). */
  name: string;
  bridge: string;
  tap: string;
  /** The server's address on the bridge, and the subnet in CIDR form. */
  serverIp: string;
  subnet: string;
  /** Addresses a DHCP server may hand out. */
  pool: { first: string; last: string };
  /** The argv prefix that runs a program inside the namespace. */
  exec(argv: readonly string[]): string[];
  /** Deletes the namespace and its devices (idempotent). The processes in it must be gone first. */
  remove(): Promise<void>;
}

/** The prefix of the namespaces boot-test creates. */
export const NETNS_PREFIX = 'kiln-bt-';
/** `kiln-bt-<pid>-<VM MAC, 12 hex digits>`: whose it is, so that a later run can clean up after one killed outright. */
const OWNED = /^kiln-bt-(\d+)-([0-9a-f]{12})$/u;

/**
 * Creates a namespace with a bridge (10.213.<n>.1/24) and a tap attached to it, all up, named
 * after this process and the VM's MAC. Nothing leaks when a step fails: the namespace is
 * deleted before the error propagates.
 */
export async function createPrivateNetwork(mac: string, random: (n: number) => Buffer = randomBytes): Promise<PrivateNetwork> {
  const name = `${NETNS_PREFIX}${process.pid}-${mac.replace(/:/gu, '').toLowerCase()}`;
  const octet = random(1)[0] ?? 1;
  const net = `10.213.${octet}`;
  const bridge = 'kbr0';
  const tap = 'ktap0';
  let removed = false;
  const network: PrivateNetwork = {
    name, bridge, tap, serverIp: `${net}.1`, subnet: `${net}.0/24`, pool: { first: `${net}.100`, last: `${net}.199` },
    exec: (argv) => ['ip', 'netns', 'exec', name, ...argv],
    remove: async () => {
      if (removed) return;
      removed = true;
      await run('ip', ['netns', 'del', name]);
    },
  };
  await run('ip', ['netns', 'add', name]);
  try {
    const ip = (...args: string[]) => run('ip', ['-n', name, ...args]);
    await ip('link', 'set', 'lo', 'up');
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('addr', 'add', `${network.serverIp}/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    await ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
    await ip('link', 'set', tap, 'master', bridge);
    await ip('link', 'set', tap, 'up');
  } catch (err) {
    await network.remove();
    throw err;
  }
  return network;
}

/** The boot-test namespaces whose process is gone (killed before it could clean up), with their VM's MAC. */
export async function abandonedNetworks(alive: (pid: number) => boolean = isProcessAlive): Promise<Array<{ name: string; mac: string }>> {
  const out: Array<{ name: string; mac: string }> = [];
  for (const line of (await run('ip', ['netns', 'list'])).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = OWNED.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    out.push({ name, mac: (m[2] as string).replace(/(..)(?!$)/gu, '$1:') });
  }
  return out;
}

/** Kills what still runs in a namespace (a VM, a server, NFS daemons), then deletes it. */
export async function removeNetwork(name: string): Promise<void> {
  for (const pid of (await run('ip', ['netns', 'pids', name])).split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  await run('ip', ['netns', 'del', name]);
}
