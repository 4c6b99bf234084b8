/**
 * TFTP packets and option negotiation, pure: RFC 1350 (packets), RFC 2347 (OACK), RFC 2348
 * (blksize), RFC 2349 (tsize, timeout), RFC 7440 (windowsize).
 */
import type { BootMiss } from './types.ts';

/** RFC 1350 §5 opcodes, and OACK from RFC 2347. */
export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 error codes, and 8 (option negotiation refused) from RFC 2347. */
export const TftpError = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** A request (RRQ or WRQ): file name, mode and options with lower-case names. */
export interface TftpRequest {
  kind: 'rrq' | 'wrq';
  filename: string;
  mode: string;
  options: Map<string, string>;
}

/** Any packet a server may receive, decoded; `invalid` says why it could not be. */
export type TftpPacket =
  | TftpRequest
  | { kind: 'data'; block: number; payload: Buffer }
  | { kind: 'ack'; block: number }
  | { kind: 'error'; code: number; message: string }
  | { kind: 'oack'; options: Map<string, string> }
  | { kind: 'invalid'; reason: string };

/** Splits NUL-terminated strings from `offset` on; null when the last one is not terminated. */
function readStrings(buf: Buffer, offset: number): string[] | null {
  const out: string[] = [];
  let start = offset;
  for (let i = offset; i < buf.length; i++) {
    if (buf[i] === 0) {
      out.push(buf.toString('latin1', start, i));
      start = i + 1;
    }
  }
  return start === buf.length ? out : null;
}

/** Decodes one datagram. */
export function decodePacket(buf: Buffer): TftpPacket {
  if (buf.length < 4) return { kind: 'invalid', reason: 'packet shorter than 4 bytes' };
  const op = buf.readUInt16BE(0);
  switch (op) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const strings = readStrings(buf, 2);
      if (!strings || strings.length < 2) return { kind: 'invalid', reason: 'request without a NUL-terminated file name and mode' };
      if (strings.length % 2 !== 0) return { kind: 'invalid', reason: 'option without a value' };
      const [filename, mode, ...rest] = strings as [string, string, ...string[]];
      const options = new Map<string, string>();
      for (let i = 0; i < rest.length; i += 2) {
        const name = rest[i]!.toLowerCase();
        // RFC 2347: an option named twice is a malformed request; keep the first.
        if (!options.has(name)) options.set(name, rest[i + 1]!);
      }
      return { kind: op === Opcode.RRQ ? 'rrq' : 'wrq', filename, mode: mode.toLowerCase(), options };
    }
    case Opcode.DATA:
      return { kind: 'data', block: buf.readUInt16BE(2), payload: buf.subarray(4) };
    case Opcode.ACK:
      return { kind: 'ack', block: buf.readUInt16BE(2) };
    case Opcode.ERROR: {
      const end = buf.indexOf(0, 4);
      return { kind: 'error', code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, end === -1 ? buf.length : end) };
    }
    case Opcode.OACK: {
      const strings = readStrings(buf, 2);
      if (!strings || strings.length % 2 !== 0) return { kind: 'invalid', reason: 'malformed OACK' };
      const options = new Map<string, string>();
      for (let i = 0; i < strings.length; i += 2) options.set(strings[i]!.toLowerCase(), strings[i + 1]!);
      return { kind: 'oack', options };
    }
    default:
      return { kind: 'invalid', reason: `unknown opcode ${op}` };
  }
}


/** An ACK packet (used by clients; here by tests). */
export function encodeAck(block: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf.writeUInt16BE(Opcode.ACK, 0);
  buf.writeUInt16BE(block & 0xffff, 2);
  return buf;
}

/** An ERROR packet with a code and a message. */
export function encodeError(code: number, message: string): Buffer {
  const text = Buffer.from(message, 'latin1');
  const buf = Buffer.alloc(5 + text.length);
  buf.writeUInt16BE(Opcode.ERROR, 0);
  buf.writeUInt16BE(code, 2);
  text.copy(buf, 4);
  return buf;
}

/** An OACK packet listing the accepted options (RFC 2347). */
export function encodeOack(options: ReadonlyMap<string, string>): Buffer {
  const parts = [Buffer.from([0, Opcode.OACK])];
  for (const [name, value] of options) parts.push(Buffer.from(`${name}\0${value}\0`, 'latin1'));
  return Buffer.concat(parts);
}

/** A request packet (used by clients; here by tests). */
export function encodeRequest(kind: 'rrq' | 'wrq', filename: string, mode: string, options: Record<string, string> = {}): Buffer {
  const fields = [filename, mode, ...Object.entries(options).flat()];
  return Buffer.concat([Buffer.from([0, kind === 'rrq' ? Opcode.RRQ : Opcode.WRQ]), Buffer.from(fields.map((f) => `${f}\0`).join(''), 'latin1')]);
}

/** What the server allows a client to ask for. */
export interface TftpLimits {
  /** Largest block size granted (RFC 2348 allows 8..65464). */
  maxBlksize: number;
  /** Largest window granted (RFC 7440 allows 1..65535); bounds the read-ahead per transfer. */
  maxWindowsize: number;
}

/** The parameters of one transfer after negotiation, and the OACK to send (null: none). */
export interface TftpSession {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout the client asked for (RFC 2349), in ms; undefined: the server's. */
  timeoutMs?: number;
  oack: Map<string, string> | null;
}

/** Parses a decimal option value; NaN unless it is all digits. */
function integer(value: string): number {
  return /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
}

/**
 * Grants what the client asked within the limits (RFC 2347: the server may answer a smaller
 * blksize or windowsize; it leaves out options it does not grant). Values out of range are
 * ignored rather than refused, as tftpd-hpa does, so the transfer still runs with defaults.
 */
export function negotiate(options: ReadonlyMap<string, string>, fileSize: number, limits: TftpLimits): TftpSession {
  const oack = new Map<string, string>();
  let blksize = 512;
  let windowsize = 1;
  let timeoutMs: number | undefined;
  const asked = (name: string) => (options.has(name) ? integer(options.get(name)!) : NaN);
  const b = asked('blksize');
  if (b >= 8) {
    blksize = Math.min(b, limits.maxBlksize, 65464);
    oack.set('blksize', String(blksize));
  }
  const t = asked('timeout');
  if (t >= 1 && t <= 255) {
    timeoutMs = t * 1000;
    oack.set('timeout', String(t));
  }
  // RFC 2349: a client sends tsize 0 in a read request and the server answers the size.
  if (options.has('tsize') && asked('tsize') === 0) oack.set('tsize', String(fileSize));
  const w = asked('windowsize');
  if (w >= 1 && w <= 65535) {
    windowsize = Math.min(w, limits.maxWindowsize);
    oack.set('windowsize', String(windowsize));
  }
  return { blksize, windowsize, ...(timeoutMs !== undefined ? { timeoutMs } : {}), oack: oack.size > 0 ? oack : null };
}

/** The path to hand the resolver, or why it is refused: a leading "/" is stripped, ".." never passes. */
export function checkRequestPath(filename: string): { path: string } | { refused: string } {
  const path = filename.replace(/^\/+/, '');
  if (path === '') return { refused: 'empty file name' };
  // Windows clients send "\" as the separator: a ".." between either kind climbs.
  if (path.split(/[/\\]/).includes('..')) return { refused: 'a path with ".." is refused' };
  return { path };
}

/** The error packet for a resolver's miss. */
export function missError(miss: BootMiss): { code: number; message: string } {
  switch (miss.reason) {
    case 'not-found':
      return { code: TftpError.NOT_FOUND, message: 'File not found' };
    case 'forbidden':
      return { code: TftpError.ACCESS_VIOLATION, message: 'Access violation' };
    case 'unknown-client':
      return { code: TftpError.ACCESS_VIOLATION, message: 'Unknown client' };
    case 'not-ready':
      return { code: TftpError.UNDEFINED, message: 'Not ready, try again later' };
  }
}

/**
 * Maps a 16-bit ACK to how many outstanding blocks it acknowledges: `lastAcked` is the absolute
 * number of the last block acknowledged, `sent` how many were sent after it. Block numbers wrap
 * to 0 after 65535 (tftp-hpa and U-Boot expect 0, not 1). -1 when the ACK is stale.
 */
export function ackedCount(ack: number, lastAcked: number, sent: number): number {
  const delta = (ack - (lastAcked & 0xffff)) & 0xffff;
  return delta <= sent ? delta : -1;
}
