import { createHash } from 'node:crypto';

/** Where WalT nodes mount their trees: `<server>:/var/lib/walt/nodes/<mac>/fs` and `.../persist`. */
export const WALT_NODES_DIR = '/var/lib/walt/nodes';

/** What one node mounts: its image's read-only tree and its own writable persist directory. */
export interface NfsNodeExport {
  /** Lower-case colon form, as in the catalog. */
  mac: string;
  /** Host directory of the image's unpacked tree (shared by every node on that image). */
  tree: string;
  /** Host directory of this node's /persist (one per node: it follows the node, not its owner). */
  persist: string;
}

/** The export paths a node mounts, WalT's spelling. */
export function nodeExportPaths(mac: string): { fs: string; persist: string } {
  return { fs: `${WALT_NODES_DIR}/${mac}/fs`, persist: `${WALT_NODES_DIR}/${mac}/persist` };
}

/** A stable `fsid=` for a tree (kernel exports need one per exported filesystem view): a UUID from its path. */
export function treeFsid(tree: string): string {
  const hex = createHash('sha256').update(tree).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function quote(text: string): string {
  if (/["\n\\]/u.test(text)) throw new RangeError(`path ${JSON.stringify(text)} cannot be written into an NFS export file`);
  return `"${text}"`;
}

/** Options of the nfs-ganesha configuration: where it listens (NFSv3 and mountd). */
export interface GaneshaListen {
  address: string;
  nfsPort: number;
  mountPort: number;
}

/**
 * nfs-ganesha's configuration for these exports: NFSv3 over TCP, VFS FSAL, one export per
 * node tree and per persist directory, mounted by their pseudo path (= WalT's path,
 * `Mount_Path_Pseudo`). The same tree may back many exports (one per node on the image).
 */
export function renderGaneshaConfig(exports: readonly NfsNodeExport[], listen: GaneshaListen, ids: GaneshaExportIds = createGaneshaExportIds()): string {
  const lines = [
    'NFS_CORE_PARAM {',
    `  Bind_addr = ${listen.address};`,
    `  NFS_Port = ${listen.nfsPort};`,
    `  MNT_Port = ${listen.mountPort};`,
    '  Protocols = 3;',
    '  Enable_NLM = false;',
    '  Enable_RQUOTA = false;',
    '  Enable_UDP = false;',
    '  Mount_Path_Pseudo = true;',
    '}',
    'NFSV4 { Graceless = true; }',
    'EXPORT_DEFAULTS { SecType = sys; Squash = No_Root_Squash; Protocols = 3; Transports = TCP; }',
  ];
  const entries: [string, string, 'RO' | 'RW'][] = [];
  for (const node of [...exports].sort((a, b) => a.mac.localeCompare(b.mac))) {
    const paths = nodeExportPaths(node.mac);
    entries.push([node.tree, paths.fs, 'RO'], [node.persist, paths.persist, 'RW']);
  }
  const assigned = ids.assign(entries.map(([path, pseudo, access]) => `${access}\0${path}\0${pseudo}`));
  for (const [i, [path, pseudo, access]] of entries.entries()) {
    lines.push(`EXPORT { Export_Id = ${assigned[i]}; Path = ${quote(path)}; Pseudo = ${quote(pseudo)}; Access_Type = ${access}; FSAL { Name = VFS; } }`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Export ids that stay with an export across reloads: ganesha updates an export in place by
 * id and cannot move one to another path, so a node switched to another image gets a new id
 * (the old one is dropped) while every unchanged export keeps its own.
 */
export interface GaneshaExportIds {
  /** Ids for these export keys (in order); keys absent from this call free their ids. */
  assign(keys: readonly string[]): number[];
}

/** A fresh id allocator (ids 1..65535, ganesha's range; an id freed is not reused before the others). */
export function createGaneshaExportIds(): GaneshaExportIds {
  let byKey = new Map<string, number>();
  let next = 1;
  return {
    assign: (keys) => {
      const kept = new Map<string, number>();
      const used = new Set<number>();
      for (const key of keys) {
        const id = byKey.get(key);
        if (id !== undefined) {
          kept.set(key, id);
          used.add(id);
        }
      }
      // An id dropped now must not name another export in the same reload.
      const dropped = new Set([...byKey.values()].filter((id) => !used.has(id)));
      for (const key of keys) {
        if (kept.has(key)) continue;
        for (let tries = 0; used.has(next) || dropped.has(next); tries++) {
          if (tries > 65535) throw new RangeError('more than 65535 NFS exports');
          next = next >= 65535 ? 1 : next + 1;
        }
        kept.set(key, next);
        used.add(next);
        next = next >= 65535 ? 1 : next + 1;
      }
      byKey = kept;
      return keys.map((key) => kept.get(key) as number);
    },
  };
}

/**
 * The kernel server's exports (exports(5)), WalT's scheme: the nodes directory holds
 * per-node symlinks (`<mac>/fs -> tree`, `<mac>/persist -> persist dir`) that mountd
 * resolves; each image tree is exported read-only with its own `fsid`, each persist
 * directory read-write. `clients` is the node subnet (e.g. 192.168.152.0/22).
 */
export function renderKernelExports(exports: readonly NfsNodeExport[], clients: string, nodesDir = WALT_NODES_DIR): string {
  const lines = ['# Written by kiln serve: do not edit (rewritten on every change of nodes or images).'];
  lines.push(`${quote(nodesDir)} ${clients}(ro,sync,no_root_squash,no_subtree_check)`);
  const trees = [...new Set(exports.map((e) => e.tree))].sort();
  for (const tree of trees) lines.push(`${quote(tree)} ${clients}(ro,sync,no_root_squash,no_subtree_check,fsid=${treeFsid(tree)})`);
  for (const persist of [...new Set(exports.map((e) => e.persist))].sort()) lines.push(`${quote(persist)} ${clients}(rw,sync,no_root_squash,no_subtree_check)`);
  return `${lines.join('\n')}\n`;
}

/** True when two export sets mount the same things (the order does not matter): no reload needed. */
export function sameExports(a: readonly NfsNodeExport[], b: readonly NfsNodeExport[]): boolean {
  const key = (list: readonly NfsNodeExport[]): string => list.map((e) => `${e.mac}\0${e.tree}\0${e.persist}`).sort().join('\n');
  return key(a) === key(b);
}
