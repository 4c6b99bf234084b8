import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, spawnError } from '../core/index.ts';
import { createIdentityKeys, type IdentityKeys } from '../boot/index.ts';
import type { Store } from '../store/index.ts';
import type { Core } from './core.ts';
import { claim, resolveNodeSet } from './nodes.ts';
import type { Resolved } from './request.ts';

/** The server's SSH key and the nodes' identities, where `kiln serve` keeps them. */
export function identityKeysFor(store: Store): IdentityKeys {
  return createIdentityKeys({ server: store.dirs.cacheDir('server-state'), node: (mac) => join(store.dirs.cacheDir('node-state'), mac, 'identity') });
}

/** What to do on a node over SSH. */
export type NodeSshAction =
  | { kind: 'run'; command: readonly string[] }
  | { kind: 'shell' }
  | { kind: 'reboot' }
  /** scp: one side is `<node>:<path>` (the node named in the call), the other local. */
  | { kind: 'cp'; from: string; to: string; remoteIsSource: boolean };

/** Seconds SSH may take to connect before giving up. */
const CONNECT_TIMEOUT_S = 10;

/**
 * ssh's options to reach a node as root with the server's key, its host keys pinned: a
 * known_hosts file written in `dir` for this call alone and StrictHostKeyChecking=yes (never
 * trust on first use), no user configuration, no agent, no prompt.
 */
export async function pinnedSshOptions(store: Store, node: { mac: string; ip: string; port: number }, dir: string): Promise<string[]> {
  const keys = identityKeysFor(store);
  const [server, own] = await Promise.all([keys.server(), keys.node(node.mac)]);
  const knownHosts = join(dir, 'known_hosts');
  const host = node.port === 22 ? node.ip : `[${node.ip}]:${node.port}`;
  await writeFile(knownHosts, own.hostKeys.map((k) => `${host} ${k.publicKey}\n`).join(''), { mode: 0o600 });
  return ['-F', 'none', '-i', server.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=none', '-o', `ConnectTimeout=${CONNECT_TIMEOUT_S}`];
}

/**
 * Runs ssh (or scp) to a node as root with the server's key, pinning the host key Kiln
 * generated for that node: a known_hosts file written for this call alone and
 * StrictHostKeyChecking=yes (never trust on first use). The port is the node's `ssh.port`
 * setting (default 22). Returns the exit status of ssh.
 */
export async function sshToNode(core: Core, req: Resolved, key: string, action: NodeSshAction, options: { force?: boolean } = {}): Promise<number> {
  const nodes = resolveNodeSet(core, key);
  const node = nodes[0];
  if (!node || nodes.length !== 1) throw new KilnError(ErrorCode.USAGE, `one node, not "${key}"`, { hint: 'name one node' });
  claim(req, [node], options.force === true, 'log in to');
  if (!node.ip) throw new KilnError(ErrorCode.NOT_FOUND, `node ${node.name} has no IP address`, { hint: 'register it with --ip, or let it boot (DHCP) first' });
  const port = Number(node.settings['ssh.port'] ?? 22);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new KilnError(ErrorCode.CONFIG, `node ${node.name}'s ssh.port "${String(node.settings['ssh.port'])}" is not a port`, { hint: `kiln node config ${node.name} ssh.port=22` });
  const store = core.store();
  const dir = await store.dirs.workDir('ssh');
  try {
    const common = await pinnedSshOptions(store, { mac: node.mac, ip: node.ip, port }, dir);
    const target = `root@${node.ip}`;
    let tool = 'ssh';
    let args: string[];
    switch (action.kind) {
      case 'run': args = [...common, '-p', String(port), target, '--', ...action.command]; break;
      case 'shell': args = [...common, '-t', '-p', String(port), target]; break;
      // WalT's images reboot with /bin/walt-reboot when they have one.
      case 'reboot': args = [...common, '-p', String(port), target, '--', 'if [ -x /bin/walt-reboot ]; then /bin/walt-reboot; else reboot; fi']; break;
      case 'cp': {
        tool = 'scp';
        const remote = (spec: string): string => `${target}:${spec.slice(spec.indexOf(':') + 1)}`;
        args = [...common, '-P', String(port), '-r', action.remoteIsSource ? remote(action.from) : action.from, action.remoteIsSource ? action.to : remote(action.to)];
        break;
      }
    }
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(tool, args, { stdio: 'inherit', signal: req.signal });
      child.once('error', (err: NodeJS.ErrnoException) => reject(spawnError(tool, err)));
      child.once('close', (code) => resolve(code ?? 255));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
