import { networkInterfaces } from 'node:os';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KilnError, ErrorCode, type Logger } from '../core/index.ts';
import {
  clientIp, createArtifactSource, createDhcpServer, createGaneshaNfsBackend, createHttpBootServer, createIdentityService, createImageFiles,
  createKernelNfsBackend, createNfsService, createNfsTrees, createStoreResolver, createTftpServer,
  type BootLogger, type DhcpRequestLog, type DhcpServer, type NfsService, type ServerIdentity,
} from '../boot/index.ts';
import { createDiscovery } from './discovery.ts';
import type { Store } from '../store/index.ts';
import { identityKeysFor } from './node-ssh.ts';
import type { ServerConfig } from '../config/index.ts';
import type { Core } from './core.ts';
import type { Resolved } from './request.ts';

/** What `serve` listens on, once it does. */
export interface ServingAddresses {
  address: string;
  serverIp: string;
  http: number;
  /** Undefined when this build has no TFTP server. */
  tftp: number;
  /** DHCP's port (and PXE's proxy port in proxy mode) when `server.dhcp` is on. */
  dhcp?: number;
  pxe?: number;
  /** The NFS server the node roots are exported with, or off. */
  nfs?: 'kernel' | 'ganesha' | 'off';
}

/** Options of `serve`: where request lines go, and who hears that the servers listen. */
export interface ServeOptions {
  log: BootLogger;
  /** Where DHCP's lines go (one per message), when `server.dhcp` is on. */
  dhcpLog?: (entry: DhcpRequestLog) => void;
  onReady?: (addresses: ServingAddresses) => void;
}

/** The listening address and the server's identity (templates' server_ip and server_mac) from `server:`. */
export function serverAddresses(config: ServerConfig, interfaces = networkInterfaces()): { address: string; identity: ServerIdentity } {
  const all = Object.entries(interfaces).flatMap(([name, list]) => (list ?? []).map((i) => ({ name, ...i })));
  const v4 = all.filter((i) => i.family === 'IPv4');
  if (config.interface) {
    const found = v4.find((i) => i.name === config.interface);
    if (!found) {
      throw new KilnError(ErrorCode.CONFIG, `server.interface "${config.interface}" has no IPv4 address`, { hint: `interfaces: ${[...new Set(all.map((i) => i.name))].join(', ')}` });
    }
    return { address: found.address, identity: { ip: config.server_ip ?? found.address, mac: found.mac } };
  }
  const address = config.address ?? '0.0.0.0';
  const ip = config.server_ip ?? (address !== '0.0.0.0' ? address : (v4.find((i) => !i.internal)?.address ?? '127.0.0.1'));
  return { address, identity: { ip, mac: v4.find((i) => i.address === ip)?.mac ?? '00:00:00:00:00:00' } };
}

/**
 * Runs the boot services until the request's signal aborts: HTTP (and TFTP when this build
 * has it) over one resolver, which reads nodes and images from the catalog on every request.
 */
export async function serve(core: Core, req: Resolved, options: ServeOptions): Promise<void> {
  const store = core.store();
  const { address, identity } = serverAddresses(core.config.server);
  // The catalog's nodes, read on every request: node changes made by `kiln` commands apply at once.
  const nodes = { byIp: (ip: string) => store.nodes.findByIp(ip) };
  // Each request a node makes is its "last boot request" (`kiln node show`); a failed write only costs that.
  const log: BootLogger = (entry) => {
    options.log(entry);
    const node = entry.node !== undefined ? store.nodes.findByName(entry.node) : undefined;
    if (node) store.nodes.recordBootRequest(node.mac, entry.path, new Date().toISOString()).catch((err: unknown) => req.logger.debug(`recording ${node.name}'s boot request: ${(err as Error).message}`));
  };
  const images = createImageFiles(store, store.dirs.cacheDir('boot'));
  const artifacts = createArtifactSource(store, `${store.dirs.cacheDir('boot')}/artifacts`, req.logger, core.config.server.rootfs_compression);
  const resolver = createStoreResolver({ store, nodes, images, artifacts, server: identity, ...(core.config.server.boot_mode ? { bootMode: core.config.server.boot_mode } : {}) });
  const identityService = createIdentityService({
    store, images, server: identity, dns: core.config.server.dns,
    keys: identityKeysFor(store),
  });
  const http = createHttpBootServer({
    address, port: core.config.server.http_port, resolver, log,
    identity: (client) => identityService.script(store.nodes.findByIp(clientIp(client)), client),
  });
  const nfsMode = nfsKind(core.config.server);
  const nfs = nfsMode === 'off' ? undefined : nfsService(nfsMode, core.config.server, address, store, req.logger);
  const tftp = createTftpServer({ address, port: core.config.server.tftp_port, resolver, log });
  let dhcp: DhcpServer | undefined;
  const stopped = new Promise<void>((resolve) => {
    if (req.signal?.aborted) resolve();
    req.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    const httpPort = await http.start();
    identity.httpUrl = `http://${identity.ip}${httpPort.port === 80 ? '' : `:${httpPort.port}`}`;
    const tftpPort = await tftp.start();
    dhcp = createServeDhcp(core, req, identity, options);
    const dhcpPorts = dhcp ? await dhcp.start() : undefined;
    // The first pass (unpacking the images in use) runs before the servers are announced: a node that mounts finds its tree.
    if (nfs) await nfs.refresh();
    nfs?.start();
    options.onReady?.({
      address, serverIp: identity.ip, http: httpPort.port, tftp: tftpPort.port,
      ...(dhcpPorts ? { dhcp: dhcpPorts.port, ...(dhcpPorts.pxePort !== undefined ? { pxe: dhcpPorts.pxePort } : {}) } : {}),
      nfs: nfsMode,
    });
    await stopped;
  } finally {
    await Promise.all([http.stop(), tftp.stop(), dhcp?.stop(), nfs?.stop()]);
    images.close();
  }
}

/**
 * The DHCP server of `kiln serve` when `server.dhcp` is on: leases kept in the catalog, known
 * nodes' addresses fixed, and discovery of new nodes and unknown devices.
 */
function createServeDhcp(core: Core, req: Resolved, identity: ServerIdentity, options: ServeOptions): DhcpServer | undefined {
  const config = core.config.server;
  if (config.dhcp === undefined || config.dhcp === 'off' || config.subnet === undefined) return undefined;
  const table = core.store().nodes;
  const [network = '', bits = '24'] = config.subnet.split('/');
  const discovery = createDiscovery(core, req);
  const persist = (what: string) => (err: unknown): void => req.logger.warn(`${what}: ${(err as Error).message}`);
  return createDhcpServer({
    settings: {
      mode: config.dhcp, serverIp: identity.ip, httpUrl: identity.httpUrl, subnet: { network, prefix: Number(bits) },
      pool: config.dhcp_pool, leaseSeconds: config.dhcp_lease_time ?? 3600, router: config.router, dns: config.dns,
    },
    port: config.dhcp_port ?? 67,
    pxePort: config.dhcp === 'proxy' ? (config.dhcp_pxe_port ?? 4011) : undefined,
    leases: {
      load: () => table.listLeases().map((l) => ({ mac: l.mac, ip: l.ip, expires: Date.parse(l.expires), bound: true })),
      save: (l) => table.saveLease({ mac: l.mac, ip: l.ip, expires: new Date(l.expires).toISOString() }).catch(persist(`recording the lease of ${l.mac}`)),
      drop: (mac) => table.dropLease(mac).catch(persist(`dropping the lease of ${mac}`)),
    },
    nodes: { byMac: (mac) => table.findByMac(mac), macByIp: (ip) => table.findByIp(ip)?.mac },
    log: options.dhcpLog ?? (() => undefined),
    onClient: (client, ip) => discovery.seen(client, ip),
  });
}

function hasExecutable(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES') return false;
      throw err;
    }
  });
}

/** server.nfs, its default resolved: the kernel server when exportfs is installed, else none. */
function nfsKind(config: ServerConfig): 'kernel' | 'ganesha' | 'off' {
  return config.nfs ?? (hasExecutable('exportfs') && config.subnet !== undefined ? 'kernel' : 'off');
}

/**
 * The NFS side of `kiln serve` (server.nfs): images in use unpacked once into the boot cache,
 * persist directories in the nodes' state, the exports kept in step with the catalog.
 */
function nfsService(kind: 'kernel' | 'ganesha', config: ServerConfig, address: string, store: Store, logger: Logger): NfsService {
  let backend;
  if (kind === 'kernel') {
    if (!config.subnet) throw new KilnError(ErrorCode.CONFIG, 'server.nfs: kernel needs server.subnet (the clients allowed to mount)', { hint: 'set server.subnet, e.g. 192.168.152.0/22, or server.nfs: off' });
    backend = createKernelNfsBackend({ clients: config.subnet });
  } else {
    backend = createGaneshaNfsBackend({
      configPath: config.nfs_ganesha_config ?? join(store.dirs.cacheDir('server-state'), 'ganesha.conf'),
      pidFile: config.nfs_ganesha_pid ?? '/run/ganesha/ganesha.pid',
      listen: { address, nfsPort: config.nfs_port ?? 2049, mountPort: config.nfs_mount_port ?? 20048 },
    });
  }
  return createNfsService({
    backend, logger,
    trees: createNfsTrees(store, { dir: join(store.dirs.cacheDir('boot'), 'trees'), logger }),
    nodes: () => store.nodes.list(),
    findImage: (ref) => store.findImage(ref),
    persistDir: (mac) => join(store.dirs.cacheDir('node-state'), mac, 'persist'),
  });
}
