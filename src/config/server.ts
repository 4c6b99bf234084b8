import type { Node } from 'yaml';
import { isMap, isScalar } from './yaml.ts';
import type { NodeFail } from './registries.ts';
import { inIpv4Subnet, ipv4ToNumber } from '../core/index.ts';

/** kiln.yaml's `server:`: where `kiln serve` listens and what it tells nodes. */
export interface ServerConfig {
  /** Listening address (default 0.0.0.0); `interface` picks one instead. */
  address?: string;
  /** A network interface whose first IPv4 address is listened on and written into templates. */
  interface?: string;
  /** The address nodes reach the server at (templates' server_ip); default: the listening address, else the interface's. */
  server_ip?: string;
  tftp_port: number;
  /** 80: iPXE scripts (WalT's too) fetch `http://${next-server}/boot/…` with no port. */
  http_port: number;
  /** The node subnet in CIDR form (the DHCP side uses it; recorded here so that one file holds the network). */
  subnet?: string;
  /** Kiln's DHCP server: off (the default), authoritative (addresses from `dhcp_pool`), or proxy (PXE boot options beside another DHCP server). */
  dhcp?: 'off' | 'authoritative' | 'proxy';
  /** The addresses DHCP hands out, `<first>-<last>` inside `subnet` (authoritative mode). */
  dhcp_pool?: { first: string; last: string };
  /** Seconds a DHCP lease lasts (default 3600). */
  dhcp_lease_time?: number;
  /** DHCP's port (default 67) and PXE's proxy port (default 4011); 0 picks a free one. */
  dhcp_port?: number;
  dhcp_pxe_port?: number;
  /** The default gateway and DNS servers DHCP gives nodes (DNS: addresses separated by commas). */
  router?: string;
  /** SquashFS compression of the boot artifacts `kiln serve` exports on first request (default gzip). */
  rootfs_compression: 'gzip' | 'xz' | 'zstd' | 'lzo' | 'lz4';
  /** NFS root filesystems: the kernel server (exportfs), nfs-ganesha, or none; default kernel when exportfs exists, else off. */
  nfs?: 'kernel' | 'ganesha' | 'off';
  /** The configuration file Kiln writes for ganesha.nfsd (-f) (server.nfs: ganesha). */
  nfs_ganesha_config?: string;
  /** ganesha.nfsd's pid file (-p): Kiln signals it to reload the exports. */
  nfs_ganesha_pid?: string;
  /** NFS and mountd ports of ganesha (default 2049 and 20048). */
  nfs_port?: number;
  nfs_mount_port?: number;
  /** Name servers DHCP gives nodes and identity writes into their /etc/resolv.conf (comma-separated IPs); default: the server's own, loopback ones left out. */
  dns?: string[];
  /** How nodes without a `boot.mode` setting boot: their image's own start.ipxe (image, the default), or Kiln's NFS or live script. */
  boot_mode?: 'image' | 'nfs' | 'live';
}

/** Defaults of `server:`: TFTP on 69 and HTTP on 80, the ports a node's firmware assumes. */
export const SERVER_DEFAULTS: ServerConfig = { tftp_port: 69, http_port: 80, rootfs_compression: 'gzip' };

const FIELDS = ['address', 'interface', 'server_ip', 'tftp_port', 'http_port', 'subnet', 'rootfs_compression', 'dhcp', 'dhcp_pool', 'dhcp_lease_time', 'dhcp_port', 'dhcp_pxe_port', 'router'] as const;
const DHCP_MODES = ['off', 'authoritative', 'proxy'] as const;
const NFS_FIELDS = ['nfs', 'nfs_ganesha_config', 'nfs_ganesha_pid', 'nfs_port', 'nfs_mount_port', 'dns', 'boot_mode'] as const;
const BOOT_MODES = ['image', 'nfs', 'live'] as const;
const NFS_KINDS = ['kernel', 'ganesha', 'off'] as const;
const COMPRESSIONS = ['gzip', 'xz', 'zstd', 'lzo', 'lz4'] as const;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/u;

function isIpv4(text: string): boolean {
  const m = IPV4.exec(text);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net = '', bits = '0'] = cidr.split('/');
  return inIpv4Subnet(ip, net, Number(bits));
}

/** Validates the `server:` node of kiln.yaml field by field (positions come from `fail`). */
export function parseServerNode(node: Node | null, fail: NodeFail): ServerConfig {
  if (!isMap(node)) fail(node, '"server" must be a mapping', `keys: ${FIELDS.join(', ')}`);
  const out: ServerConfig = { ...SERVER_DEFAULTS };
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!(FIELDS as readonly string[]).includes(key) && !(NFS_FIELDS as readonly string[]).includes(key)) fail(pair.key as Node, `unknown server setting "${key}"`, `server settings: ${[...FIELDS, ...NFS_FIELDS].join(', ')}`);
    const value = pair.value as Node | null;
    if (!isScalar(value) || (typeof value.value !== 'string' && typeof value.value !== 'number')) fail(value ?? (pair.key as Node), `server setting "${key}" must be a string or number`, 'quote the value');
    const text = String(value.value).trim();
    if ((NFS_FIELDS as readonly string[]).includes(key)) {
      parseNfsField(key as (typeof NFS_FIELDS)[number], text, value, out, fail);
      continue;
    }
    switch (key as (typeof FIELDS)[number]) {
      case 'tftp_port':
      case 'http_port':
      case 'dhcp_port':
      case 'dhcp_pxe_port': {
        const port = Number(text);
        if (!Number.isInteger(port) || port < 0 || port > 65535) fail(value, `${key} "${text}" is not a port number`, 'use 0 to 65535 (0: any free port)');
        out[key as 'tftp_port' | 'http_port' | 'dhcp_port' | 'dhcp_pxe_port'] = port;
        break;
      }
      case 'dhcp':
        if (!(DHCP_MODES as readonly string[]).includes(text)) fail(value, `dhcp "${text}" is not one of ${DHCP_MODES.join(', ')}`, 'authoritative: Kiln hands out addresses; proxy: another DHCP server does, Kiln adds the boot options');
        out.dhcp = text as NonNullable<ServerConfig['dhcp']>;
        break;
      case 'dhcp_pool': {
        const [first = '', last = '', ...rest] = text.split('-').map((p) => p.trim());
        if (!isIpv4(first) || !isIpv4(last) || rest.length > 0 || ipv4ToNumber(first) > ipv4ToNumber(last)) fail(value, `dhcp_pool "${text}" is not an address range`, 'e.g. 192.168.152.10-192.168.155.250');
        out.dhcp_pool = { first, last };
        break;
      }
      case 'dhcp_lease_time': {
        const seconds = Number(text);
        if (!Number.isInteger(seconds) || seconds < 60 || seconds > 0x7fffffff) fail(value, `dhcp_lease_time "${text}" is not a number of seconds (at least 60)`, 'e.g. 3600');
        out.dhcp_lease_time = seconds;
        break;
      }
      case 'router':
        if (!isIpv4(text)) fail(value, `router "${text}" is not an IPv4 address`, 'e.g. 192.168.152.254');
        out.router = text;
        break;
      case 'address':
      case 'server_ip':
        if (!isIpv4(text) && !text.includes(':')) fail(value, `${key} "${text}" is not an IP address`, 'e.g. 192.168.152.1 (0.0.0.0 listens everywhere)');
        out[key as 'address' | 'server_ip'] = text;
        break;
      case 'interface':
        out.interface = text;
        break;
      case 'rootfs_compression':
        if (!(COMPRESSIONS as readonly string[]).includes(text)) fail(value, `rootfs_compression "${text}" is not one of ${COMPRESSIONS.join(', ')}`, 'lz4 exports fastest; gzip (the default) is smallest to send');
        out.rootfs_compression = text as ServerConfig['rootfs_compression'];
        break;
      case 'subnet': {
        const [ip = '', bits = ''] = text.split('/');
        if (!isIpv4(ip) || !/^\d{1,2}$/u.test(bits) || Number(bits) > 32) fail(value, `subnet "${text}" is not an IPv4 CIDR`, 'e.g. 192.168.152.0/22');
        out.subnet = text;
        break;
      }
    }
  }
  if (out.address && out.interface) fail(node, 'server: give either "address" or "interface", not both', 'remove one of them');
  if (out.dhcp !== undefined && out.dhcp !== 'off') {
    if (out.subnet === undefined) fail(node, `server: dhcp ${out.dhcp} needs "subnet"`, 'the node network in CIDR form, e.g. subnet: 192.168.152.0/22');
    if (out.dhcp === 'authoritative') {
      const pool = out.dhcp_pool;
      if (!pool) fail(node, 'server: dhcp authoritative needs "dhcp_pool"', 'the addresses to hand out, e.g. dhcp_pool: 192.168.152.10-192.168.155.250');
      if (!inCidr(pool.first, out.subnet) || !inCidr(pool.last, out.subnet)) fail(node, `server: dhcp_pool ${pool.first}-${pool.last} is not inside subnet ${out.subnet}`, 'give a range of the subnet');
    }
  }
  return out;
}

/** The NFS and node-identity settings of `server:` (nfs, nfs_ganesha_*, nfs_*port, dns). */
function parseNfsField(key: (typeof NFS_FIELDS)[number], text: string, value: Node, out: ServerConfig, fail: NodeFail): void {
  switch (key) {
    case 'nfs':
      if (!(NFS_KINDS as readonly string[]).includes(text)) fail(value, `nfs "${text}" is not one of ${NFS_KINDS.join(', ')}`, 'kernel (exportfs) in production, ganesha where the kernel has no NFS server, off to serve no NFS roots');
      out.nfs = text as ServerConfig['nfs'];
      break;
    case 'nfs_ganesha_config':
    case 'nfs_ganesha_pid':
      if (!text.startsWith('/')) fail(value, `${key} "${text}" is not an absolute path`, 'e.g. /etc/ganesha/kiln.conf, /run/ganesha/ganesha.pid');
      out[key] = text;
      break;
    case 'nfs_port':
    case 'nfs_mount_port': {
      const port = Number(text);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(value, `${key} "${text}" is not a port number`, 'use 1 to 65535');
      out[key] = port;
      break;
    }
    case 'boot_mode':
      if (!(BOOT_MODES as readonly string[]).includes(text)) fail(value, `boot_mode "${text}" is not one of ${BOOT_MODES.join(', ')}`, 'image: the image\'s own /boot/<model>/start.ipxe; nfs or live: the script Kiln writes');
      out.boot_mode = text as ServerConfig['boot_mode'];
      break;
    case 'dns': {
      const list = text.split(',').map((x) => x.trim()).filter(Boolean);
      for (const ip of list) if (!isIpv4(ip) && !ip.includes(':')) fail(value, `dns "${ip}" is not an IP address`, 'comma-separated name server addresses, e.g. 192.168.152.1,9.9.9.9');
      out.dns = list;
      break;
    }
  }
}
