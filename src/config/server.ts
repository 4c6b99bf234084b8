import type { Node } from 'yaml';
import { isMap, isScalar } from './yaml.ts';
import type { NodeFail } from './registries.ts';

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
  /** SquashFS compression of the boot artifacts `kiln serve` exports on first request (default gzip). */
  rootfs_compression: 'gzip' | 'xz' | 'zstd' | 'lzo' | 'lz4';
}

/** Defaults of `server:`: TFTP on 69 and HTTP on 80, the ports a node's firmware assumes. */
export const SERVER_DEFAULTS: ServerConfig = { tftp_port: 69, http_port: 80, rootfs_compression: 'gzip' };

const FIELDS = ['address', 'interface', 'server_ip', 'tftp_port', 'http_port', 'subnet', 'rootfs_compression'] as const;
const COMPRESSIONS = ['gzip', 'xz', 'zstd', 'lzo', 'lz4'] as const;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/u;

function isIpv4(text: string): boolean {
  const m = IPV4.exec(text);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

/** Validates the `server:` node of kiln.yaml field by field (positions come from `fail`). */
export function parseServerNode(node: Node | null, fail: NodeFail): ServerConfig {
  if (!isMap(node)) fail(node, '"server" must be a mapping', `keys: ${FIELDS.join(', ')}`);
  const out: ServerConfig = { ...SERVER_DEFAULTS };
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!(FIELDS as readonly string[]).includes(key)) fail(pair.key as Node, `unknown server setting "${key}"`, `server settings: ${FIELDS.join(', ')}`);
    const value = pair.value as Node | null;
    if (!isScalar(value) || (typeof value.value !== 'string' && typeof value.value !== 'number')) fail(value ?? (pair.key as Node), `server setting "${key}" must be a string or number`, 'quote the value');
    const text = String(value.value).trim();
    switch (key as (typeof FIELDS)[number]) {
      case 'tftp_port':
      case 'http_port': {
        const port = Number(text);
        if (!Number.isInteger(port) || port < 0 || port > 65535) fail(value, `${key} "${text}" is not a port number`, 'use 0 to 65535 (0: any free port)');
        out[key as 'tftp_port' | 'http_port'] = port;
        break;
      }
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
  return out;
}
