import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, pathExists, run, writeFileAtomic } from '../core/index.ts';
import { formatImageRef, readTreeFiles, type NodeRecord, type Store } from '../store/index.ts';
import { hostNameServers, mergeAuthorizedKeys, renderHosts, renderIdentityScript, renderResolvConf, type IdentityFile } from './identity-script.ts';
import type { ImageFiles } from './image-files.ts';
import type { ServerIdentity } from './resolver.ts';
import { renderTemplate, WALT_PORTS } from './templates.ts';
import { memoryFile } from './memory-file.ts';
import type { BootFile, BootMiss } from './types.ts';

/** An SSH key pair on disk: the private key's path and the public key's line. */
export interface SshKeyPair {
  privateKeyPath: string;
  publicKey: string;
}

/** Kiln's SSH keys and per-node identity, generated once and kept (a node keeps its host keys across reboots and images). */
export interface IdentityKeys {
  /** The server's key pair (ed25519), with which Kiln logs in to nodes as root. */
  server(): Promise<SshKeyPair>;
  /** A node's SSH host key pair(s) (ed25519) and its machine-id. */
  node(mac: string): Promise<{ hostKeys: Array<SshKeyPair & { type: string; privateKey: string }>; machineId: string }>;
}

const HOST_KEY_TYPES = ['ed25519'] as const;

/** Creates the key keeper over two state directories (server's, and one per node by MAC). */
export function createIdentityKeys(dirs: { server: string; node: (mac: string) => string }): IdentityKeys {
  const making = new Map<string, Promise<SshKeyPair>>();
  // ssh-keygen writes the pair under temporary names, then the public key and the private key are renamed in: the private key is the marker.
  const keyPair = (dir: string, name: string, type: string, comment: string): Promise<SshKeyPair> => {
    const path = join(dir, name);
    let pending = making.get(path);
    if (!pending) {
      pending = (async () => {
        if (await pathExists(path)) return { privateKeyPath: path, publicKey: (await readFile(`${path}.pub`, 'utf8')).trim() };
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const tmp = join(dir, `.${name}.${process.pid}.tmp`);
        await rm(tmp, { force: true });
        await rm(`${tmp}.pub`, { force: true });
        await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', comment, '-f', tmp]);
        await rename(`${tmp}.pub`, `${path}.pub`);
        await rename(tmp, path);
        return { privateKeyPath: path, publicKey: (await readFile(`${path}.pub`, 'utf8')).trim() };
      })();
      pending.catch(() => making.delete(path));
      making.set(path, pending);
    }
    return pending;
  };
  const machineIds = new Map<string, Promise<string>>();
  const machineId = (mac: string): Promise<string> => {
    let pending = machineIds.get(mac);
    if (!pending) {
      pending = (async () => {
        const path = join(dirs.node(mac), 'machine-id');
        try {
          const id = (await readFile(path, 'utf8')).trim();
          if (/^[0-9a-f]{32}$/u.test(id)) return id;
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
        await mkdir(dirs.node(mac), { recursive: true, mode: 0o700 });
        const id = randomBytes(16).toString('hex');
        await writeFileAtomic(path, `${id}\n`, 0o644);
        return id;
      })();
      pending.catch(() => machineIds.delete(mac));
      machineIds.set(mac, pending);
    }
    return pending;
  };
  return {
    server: () => keyPair(dirs.server, 'id_ed25519', 'ed25519', 'kiln-server'),
    node: async (mac) => {
      const hostKeys = [];
      for (const type of HOST_KEY_TYPES) {
        const pair = await keyPair(dirs.node(mac), `ssh_host_${type}_key`, type, `root@${mac}`);
        hostKeys.push({ ...pair, type, privateKey: await readFile(pair.privateKeyPath, 'utf8') });
      }
      return { hostKeys, machineId: await machineId(mac) };
    },
  };
}

/** Options of the identity service: the store and its image files, the keys, the server, its name servers. */
export interface IdentityServiceOptions {
  store: Store;
  images: ImageFiles;
  keys: IdentityKeys;
  server: ServerIdentity;
  /** server.dns, else undefined: the host's own (non-loopback) name servers are used. */
  dns?: readonly string[] | undefined;
  /** The host's resolv.conf (default /etc/resolv.conf). */
  resolvConfPath?: string;
}

/** The per-node identity script (`GET /kiln/identity.sh`): for a known node only. */
export interface IdentityService {
  script(node: NodeRecord | undefined, client: string): Promise<BootFile | BootMiss>;
}

const MAX_FILE = 1 << 20;

/**
 * Builds a node's identity at serve time, never in the stored image: hostname, hosts,
 * resolv.conf, machine-id, SSH host keys, root's authorized_keys (the image's lines plus the
 * server's key) and the image's templates rendered, as a script its init runs over its overlay.
 */
export function createIdentityService(options: IdentityServiceOptions): IdentityService {
  const { store, images, keys, server } = options;
  const nameServers = async (): Promise<string[]> => {
    if (options.dns) return [...options.dns];
    try {
      return hostNameServers(await readFile(options.resolvConfPath ?? '/etc/resolv.conf', 'utf8'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  };
  return {
    script: async (node, client) => {
      if (!node) return { reason: 'unknown-client', detail: `${client} is not a registered node` };
      const record = store.findImage(node.image);
      if (!record) return { reason: 'not-ready', detail: `node ${node.name} boots ${formatImageRef(node.image)}, which is not in the store` };
      const image = await images.get(record);
      const [own, serverKey, dns] = await Promise.all([keys.node(node.mac), keys.server(), nameServers()]);
      const read = await readTreeFiles(image.tree, ['root/.ssh/authorized_keys', ...image.templates].map((path) => ({ path, limit: MAX_FILE })), store.layerSource);
      const authorized = read.get('root/.ssh/authorized_keys');
      const files: IdentityFile[] = [];
      const vars: Record<string, string | number> = {
        server_ip: server.ip, server_mac: server.mac, ...WALT_PORTS,
        walt_image_id: image.manifest.config.digest.replace(/^sha256:/u, ''),
        walt_image_size_kib: Math.ceil(record.size / 1024),
        ...(server.httpUrl ? { kiln_http_url: server.httpUrl, kiln_rootfs_url: `${server.httpUrl}/boot/rootfs.squashfs` } : {}),
      };
      // Templates first: the identity files below win over an image that templates one of them.
      for (const path of image.templates) {
        const content = read.get(path);
        const entry = image.tree.resolve(path);
        if (!content?.ok || content.truncated || !entry.ok || entry.entry?.type !== 'file') continue;
        files.push({ path: `/${entry.path}`, content: renderTemplate(content.data.toString('utf8'), vars), mode: entry.entry.mode & 0o7777 });
      }
      files.push(
        { path: '/etc/hostname', content: `${node.name}\n`, mode: 0o644 },
        { path: '/etc/hosts', content: renderHosts(node.name, node.ip), mode: 0o644 },
        { path: '/etc/machine-id', content: `${own.machineId}\n`, mode: 0o444 },
        ...(dns.length > 0 ? [{ path: '/etc/resolv.conf', content: renderResolvConf(dns), mode: 0o644 }] : []),
        ...own.hostKeys.flatMap((k) => [
          { path: `/etc/ssh/ssh_host_${k.type}_key`, content: k.privateKey, mode: 0o600 },
          { path: `/etc/ssh/ssh_host_${k.type}_key.pub`, content: `${k.publicKey}\n`, mode: 0o644 },
        ]),
        { path: '/root/.ssh/authorized_keys', content: mergeAuthorizedKeys(authorized?.ok && !authorized.truncated ? authorized.data.toString('utf8') : undefined, serverKey.publicKey), mode: 0o600 },
      );
      const script = renderIdentityScript(files, `identity of node ${node.name} (${node.mac}), image ${formatImageRef(node.image)}`);
      return { ...memoryFile(script, `identity of ${node.name}`), node: node.name };
    },
  };
}
