import type { Readable } from 'node:stream';

/** A file a node asked for, found: what the TFTP and HTTP servers send. */
export interface BootFile {
  /** Bytes, known before sending (TFTP tsize, HTTP Content-Length). */
  size: number;
  /** A strong validator of the content (HTTP ETag), e.g. the layer digest and offset, or a hash of rendered bytes. */
  etag: string;
  /** The bytes, or a byte range [start, end] (inclusive, as HTTP ranges). */
  open(range?: { start: number; end: number }): Readable;
  /** For the log line: what was served (e.g. "alice/node:latest:/boot/pc-x86-64/start.ipxe"). */
  served: string;
  /** The node it was resolved for, when known. */
  node?: string;
}

/** Why a request found no file: for the error packet / status and the log line. */
export interface BootMiss {
  reason: 'not-found' | 'unknown-client' | 'forbidden' | 'not-ready';
  detail: string;
}

/** Who asks: the address a request came from (TFTP and HTTP both know only that). */
export interface BootClient {
  address: string;
}

/**
 * Maps a node's request to a file: `<path>` → `[image]/boot/<model>/<path>` of the image the
 * node boots, resolved inside the image; unknown clients get the static fallback set.
 * Implemented over the store and the catalog's nodes; tests may use a directory.
 */
export interface BootResolver {
  resolve(client: BootClient, path: string): Promise<BootFile | BootMiss>;
}

/** One structured line per boot request (node, path asked, file served, bytes, duration, result). */
export interface BootRequestLog {
  protocol: 'tftp' | 'http';
  client: string;
  node?: string;
  path: string;
  served?: string;
  bytes: number;
  ms: number;
  result: 'ok' | BootMiss['reason'] | 'aborted' | 'timeout' | 'error';
}

/** Where request lines go (the server prints them as JSON lines). */
export type BootLogger = (entry: BootRequestLog) => void;

/** True when a resolver answer is a file. */
export function isBootFile(answer: BootFile | BootMiss): answer is BootFile {
  return (answer as BootFile).open !== undefined;
}
