import { DatabaseSync } from 'node:sqlite';
import { createHomeLayout } from './home-layout.ts';
import { BUSY_TIMEOUT_MS, retryBusySync } from './busy.ts';
import { openCatalog } from './catalog.ts';
import { parseImageRef, type ImageRef } from './reference.ts';

/** One row of the catalog's nodes table, as the boot services read it. */
export interface NodeRecord {
  mac: string;
  ip: string | undefined;
  name: string;
  model: string;
  /** The image the node boots, by name (`<user>/<name>:<tag>`). */
  image: ImageRef;
  owner: string;
  settings: Record<string, unknown>;
}

/** A node to write with {@link NodeTable.put} (until the node verbs land, tests and static set-ups use it). */
export interface NewNode {
  mac: string;
  ip?: string | undefined;
  name: string;
  model: string;
  image: string;
  owner: string;
}

/**
 * The nodes table on its own connection: `kiln serve` reads it on every request (a cheap
 * indexed SELECT in WAL mode), so node changes made by other `kiln` processes apply at once.
 */
export interface NodeTable {
  byIp(ip: string): NodeRecord | undefined;
  put(node: NewNode): void;
  close(): void;
}

interface NodeRow {
  mac: string;
  ip: string | null;
  name: string;
  model: string;
  image: string;
  owner: string;
  settings: string;
}

/** Opens the nodes table of the catalog under KILN_HOME (creating or upgrading the catalog first). */
export function openNodeTable(home: string): NodeTable {
  const path = createHomeLayout(home).catalogPath;
  openCatalog(path).close();
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  const byIp = db.prepare('SELECT mac, ip, name, model, image, owner, settings FROM nodes WHERE ip = ? LIMIT 1');
  return {
    byIp: (ip) => {
      const row = retryBusySync('reading the nodes table', () => byIp.get(ip)) as NodeRow | undefined;
      if (!row) return undefined;
      return {
        mac: row.mac, ip: row.ip ?? undefined, name: row.name, model: row.model, owner: row.owner,
        image: parseImageRef(row.image, row.owner, { allowReserved: true }),
        settings: JSON.parse(row.settings) as Record<string, unknown>,
      };
    },
    put: (node) => {
      retryBusySync('writing the nodes table', () => db.prepare(
        `INSERT INTO nodes (mac, ip, name, model, image, owner) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (mac) DO UPDATE SET ip = excluded.ip, name = excluded.name, model = excluded.model, image = excluded.image, owner = excluded.owner`,
      ).run(node.mac.toLowerCase(), node.ip ?? null, node.name, node.model, node.image, node.owner));
    },
    close: () => db.close(),
  };
}
