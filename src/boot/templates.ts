import { parse } from 'yaml';

/** The values WalT fills in an image's templates (seed 001 §C.2). */
export interface TemplateVariables {
  server_ip: string;
  server_mac: string;
  walt_server_rpc_port: number;
  walt_server_logs_port: number;
  walt_server_notify_bootup_port: number;
  walt_node_net_service_port: number;
  walt_image_id: string;
  walt_image_size_kib: number;
  /** Kiln's: `http://<server_ip>[:port]` of the HTTP boot service. */
  kiln_http_url?: string;
  /** Kiln's: the node's image's SquashFS root over HTTP (`<kiln_http_url>/boot/rootfs.squashfs`). */
  kiln_rootfs_url?: string;
}

/** WalT's ports (walt-python-packages: WALT_SERVER_DAEMON_PORT, WALT_SERVER_TCP_PORT, WALT_NODE_NET_SERVICE_PORT). */
export const WALT_PORTS = {
  walt_server_rpc_port: 12345,
  walt_server_logs_port: 12347,
  walt_server_notify_bootup_port: 12347,
  walt_node_net_service_port: 12346,
} as const;

/**
 * Fills Python `%(name)s` fields (what WalT's `update_template` does with `%`) and turns
 * `%%` into `%`. A field naming no known variable is left as written: a node sees the
 * template unchanged rather than a server error.
 */
export function renderTemplate(text: string, vars: Readonly<Record<string, string | number>>): string {
  return text.replace(/%%|%\(([A-Za-z_][A-Za-z0-9_]*)\)([sd])/gu, (whole, name: string | undefined, conv: string | undefined) => {
    if (whole === '%%') return '%';
    const value = vars[name as string];
    if (value === undefined) return whole;
    return conv === 'd' ? String(Math.trunc(Number(value))) : String(value);
  });
}

/**
 * The template paths of an image's `/etc/walt/image.spec` (JSON, or YAML) in tree form
 * ("etc/ntp.conf"); an absent, unreadable or list-less spec has none.
 */
export function templatePaths(specText: string | undefined): string[] {
  if (specText === undefined) return [];
  let spec: unknown;
  try {
    spec = parse(specText);
  } catch (err) {
    if (err instanceof Error && err.name.startsWith('YAML')) return [];
    throw err;
  }
  const list = (spec as { templates?: unknown } | null)?.templates;
  if (!Array.isArray(list)) return [];
  return list.filter((p): p is string => typeof p === 'string').map((p) => p.split('/').filter((x) => x !== '' && x !== '.').join('/')).filter((p) => p !== '');
}
