import { randomBytes } from 'node:crypto';
import { run } from '../core/index.ts';

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

/**
 * Creates a namespace with a bridge (10.213.<n>.1/24) and a tap attached to it, all up.
 * Nothing leaks when a step fails: the namespace is deleted before the error propagates.
 */
export async function createPrivateNetwork(random: (n: number) => Buffer = randomBytes): Promise<PrivateNetwork> {
  const bytes = random(4);
  const name = `${NETNS_PREFIX}${bytes.subarray(0, 3).toString('hex')}`;
  const octet = bytes[3] ?? 1;
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
