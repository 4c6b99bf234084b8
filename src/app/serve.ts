import { networkInterfaces } from 'node:os';
import { KilnError, ErrorCode } from '../core/index.ts';
import {
  createArtifactSource, createHttpBootServer, createImageFiles, createStoreResolver, createTftpServer,
  type BootLogger, type ServerIdentity,
} from '../boot/index.ts';
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
}

/** Options of `serve`: where request lines go, and who hears that the servers listen. */
export interface ServeOptions {
  log: BootLogger;
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
  const resolver = createStoreResolver({ store, nodes, images, artifacts, server: identity });
  const http = createHttpBootServer({ address, port: core.config.server.http_port, resolver, log });
  const tftp = createTftpServer({ address, port: core.config.server.tftp_port, resolver, log });
  const stopped = new Promise<void>((resolve) => {
    if (req.signal?.aborted) resolve();
    req.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    const httpPort = await http.start();
    identity.httpUrl = `http://${identity.ip}${httpPort.port === 80 ? '' : `:${httpPort.port}`}`;
    const tftpPort = await tftp.start();
    options.onReady?.({ address, serverIp: identity.ip, http: httpPort.port, tftp: tftpPort.port });
    await stopped;
  } finally {
    await Promise.all([http.stop(), tftp.stop()]);
    images.close();
  }
}
