import { connect } from 'node:net';
import { KilnError, ErrorCode } from '../core/index.ts';

// The MOUNT protocol's EXPORT procedure (`showmount -e`), spoken directly to the server's mountd
// port: ONC RPC over TCP (RFC 5531, record marking §11), MOUNT v3 (RFC 1813, appendix I).
const MOUNT_PROGRAM = 100005;
const MOUNT_V3 = 3;
const MOUNTPROC3_EXPORT = 5;
const LAST_FRAGMENT = 0x8000_0000;

/** The EXPORT call for `xid`, record-marked (one last fragment), with AUTH_NONE credentials. */
export function encodeMountExportCall(xid: number): Buffer {
  const words = [xid, 0 /* CALL */, 2 /* RPC version */, MOUNT_PROGRAM, MOUNT_V3, MOUNTPROC3_EXPORT, 0, 0 /* cred */, 0, 0 /* verf */];
  const out = Buffer.alloc(4 + words.length * 4);
  out.writeUInt32BE((LAST_FRAGMENT | (words.length * 4)) >>> 0, 0);
  words.forEach((w, i) => out.writeUInt32BE(w >>> 0, 4 + i * 4));
  return out;
}

/**
 * Joins the fragments of one RPC record; undefined until its last fragment has arrived.
 * (A reply spans several fragments when the export list is long.)
 */
export function joinRecord(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  for (let at = 0; at + 4 <= data.length;) {
    const mark = data.readUInt32BE(at);
    const length = mark & 0x7fff_ffff;
    if (at + 4 + length > data.length) return undefined;
    parts.push(data.subarray(at + 4, at + 4 + length));
    at += 4 + length;
    if (mark & LAST_FRAGMENT) return Buffer.concat(parts);
  }
  return undefined;
}

/** The directory paths of an EXPORT reply (record marks removed); throws on a reply that is not one. */
export function decodeMountExportReply(body: Buffer, xid: number): string[] {
  let at = 0;
  const word = (): number => {
    if (at + 4 > body.length) throw new RangeError('truncated MOUNT EXPORT reply');
    const w = body.readUInt32BE(at);
    at += 4;
    return w;
  };
  const opaque = (): Buffer => {
    const length = word();
    if (at + length > body.length) throw new RangeError('truncated MOUNT EXPORT reply');
    const value = body.subarray(at, at + length);
    at += length + ((4 - (length % 4)) % 4);
    return value;
  };
  if (word() !== xid) throw new RangeError('MOUNT reply to another call');
  if (word() !== 1 /* REPLY */) throw new RangeError('not an RPC reply');
  if (word() !== 0) throw new RangeError('MOUNT call denied');
  word(); // verifier flavor
  opaque(); // verifier body
  const status = word();
  if (status !== 0) throw new RangeError(`MOUNT call not accepted (accept_stat ${status})`);
  const paths: string[] = [];
  while (word() === 1) {
    paths.push(opaque().toString('utf8'));
    while (word() === 1) opaque(); // groups allowed to mount it
  }
  return paths;
}

/** An export list larger than this is refused (a few thousand exports fit in far less). */
const MAX_REPLY = 1 << 20;

/** Asks the NFS server at `address:port` (its mountd) which paths it exports, like `showmount -e`. */
export function listMountExports(address: string, port: number, timeoutMs = 5000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const xid = Math.floor(Math.random() * 0x7fff_ffff);
    const socket = connect({ host: address, port });
    // One deadline for the whole call (an idle timeout would let a server that trickles bytes hold it forever).
    const deadline = setTimeout(() => fail(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    let data = Buffer.alloc(0);
    const fail = (err: unknown): void => {
      clearTimeout(deadline);
      socket.destroy();
      reject(new KilnError(ErrorCode.NETWORK, `cannot list the NFS exports at ${address}:${port}: ${(err as Error).message}`, { hint: 'check that the NFS server runs and listens on its mount port', cause: err }));
    };
    socket.on('error', fail);
    socket.on('connect', () => socket.write(encodeMountExportCall(xid)));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length > MAX_REPLY) return fail(new Error(`the reply exceeds ${MAX_REPLY} bytes`));
      const record = joinRecord(data);
      if (record === undefined) return;
      clearTimeout(deadline);
      socket.destroy();
      try {
        resolve(decodeMountExportReply(record, xid));
      } catch (err) {
        fail(err);
      }
    });
    socket.on('end', () => fail(new Error('connection closed before the reply')));
  });
}
