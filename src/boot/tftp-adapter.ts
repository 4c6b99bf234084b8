import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BootLogger, BootResolver } from './types.ts';

/** A running TFTP server, as tftp.ts's `createTftpServer` returns it. */
export interface TftpServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

/** The TFTP server's factory: `createTftpServer({ address, port, resolver, log })`. */
export type TftpServerFactory = (options: { address: string; port: number; resolver: BootResolver; log: BootLogger }) => TftpServer;

/**
 * The TFTP server's factory when this build has one (`./tftp.ts`), else undefined. A tiny
 * adapter so that the serving side and the TFTP server land independently; once both are
 * in, this becomes a static import.
 */
export async function loadTftpServer(): Promise<TftpServerFactory | undefined> {
  const url = new URL('./tftp.ts', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod = (await import(url.href)) as { createTftpServer?: TftpServerFactory };
  return mod.createTftpServer;
}
