import type { ParseArgsOptionsConfig } from 'node:util';
import type { Context } from './context.ts';

/** Parsed options of one command. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** What a command does once its arguments are parsed. */
export type Run = (ctx: Context, args: string[], values: Values) => Promise<void>;

/**
 * One CLI command: the table that drives parsing, help and dispatch. The table is static
 * and light (it imports nothing but types); `run` loads the command's implementation
 * (a `*-run.ts` module, and through it the application core) only when that command runs.
 */
export interface Command {
  /** Words after `kiln`, e.g. ['image', 'show']. */
  path: readonly string[];
  usage: string;
  summary: string;
  options: ParseArgsOptionsConfig;
  /** Positional arguments: [min, max]; max Infinity for lists. */
  positionals: readonly [number, number];
  run(ctx: Context, args: string[], values: Values): Promise<void>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
