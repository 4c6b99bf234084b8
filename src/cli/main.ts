import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { GLOBAL_OPTIONS, type Command, type Values } from './command.ts';
import type { Context } from './context.ts';
import { IMAGE_COMMANDS } from './image-commands.ts';
import { STORE_COMMANDS } from './store-commands.ts';
import { CHECK_COMMANDS } from './check-commands.ts';
import { REGISTRY_COMMANDS } from './registry-commands.ts';
import { BUILD_COMMANDS } from './build-commands.ts';
import { SERVE_COMMANDS } from './serve-commands.ts';
import { NODE_COMMANDS } from './node-commands.ts';
import { EDIT_COMMANDS } from './edit-commands.ts';

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [...IMAGE_COMMANDS, ...EDIT_COMMANDS, ...BUILD_COMMANDS, ...CHECK_COMMANDS, ...STORE_COMMANDS, ...REGISTRY_COMMANDS, ...NODE_COMMANDS, ...SERVE_COMMANDS];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function helpText(): string {
  return [
    `kiln ${version()}: build, check, store, share, export and serve network-boot OS images`,
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.usage}\n      ${c.summary}`),
    '',
    'Every command: --json (data as JSON), --quiet, --help. Exit status: 0 ok, 1 failure, 2 usage.',
    'Settings: KILN_HOME (state directory), KILN_USER (image owner), KILN_NETWORK_IDLE_TIMEOUT (seconds), KILN_CONFIG (kiln.yaml); see `kiln config`.',
  ].join('\n');
}

function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  for (const command of COMMANDS) {
    if (command.path.every((w, i) => words[i] === w)) {
      const rest = [...argv];
      for (const w of command.path) rest.splice(rest.indexOf(w), 1);
      return { command, rest };
    }
  }
  return undefined;
}

/**
 * Runs the CLI; returns the exit status. Only this function prints errors.
 * Start-up time is a feature: `--version` and `--help` load nothing but the static command
 * table, and a command loads the error reporting, the context (configuration, application
 * core) and its own implementation only once it runs, so each command pays for its domains only.
 */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const { exitStatus, report, usageError } = await import('./report.ts');
  let ctx: Context | undefined;
  try {
    const found = findCommand(argv);
    if (!found) throw usageError(`unknown command: kiln ${argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}`);
    const { command, rest } = found;
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    } catch (err) {
      throw usageError((err as Error).message, command);
    }
    const values = parsed.values as Values;
    if (values.help) {
      process.stdout.write(`usage: ${command.usage}\n${command.summary}\n`);
      return 0;
    }
    const [min, max] = command.positionals;
    if (parsed.positionals.length < min || parsed.positionals.length > max) throw usageError(`wrong number of arguments for kiln ${command.path.join(' ')}`, command);
    const { createContext } = await import('./context.ts');
    ctx = createContext({ json: values.json === true, quiet: values.quiet === true, debug: values.debug === true });
    await command.run(ctx, parsed.positionals, values);
    ctx.logger.debug(`peak memory ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
    return 0;
  } catch (err) {
    report(err);
    return exitStatus(err);
  } finally {
    ctx?.close();
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
