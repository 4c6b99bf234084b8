import { loadConfig, networkIdleTimeoutMs, tarLimitsOf, type Config } from '../config/index.ts';
import { configureTarLimits, createLogger, createTerminalProgress, redactUrls, silentProgress, type Logger, type Progress } from '../core/index.ts';
import { openStore, validateUser, type Store } from '../store/index.ts';

/** What every command gets: configuration, output streams, logger, and the store on demand. */
export interface Context {
  config: Config;
  json: boolean;
  quiet: boolean;
  logger: Logger;
  /** Transfer progress: a terminal display for people at a terminal, silent otherwise. */
  progress: Progress;
  out: (text: string) => void;
  /** Opens the store on first use (commands like --help never touch it). */
  store: () => Store;
  /** network_idle_timeout in ms (read when a command goes on the network, so a bad value fails only those). */
  idleTimeoutMs: () => number;
  close: () => void;
}

/** Builds the command context from global flags and the environment. */
export function createContext(flags: { json: boolean; quiet: boolean; debug: boolean }, env: NodeJS.ProcessEnv = process.env): Context {
  const config = loadConfig(env);
  // Every tar walk of this process (imports, layer indexes, checks) applies the configured limits.
  configureTarLimits(tarLimitsOf(config));
  // Output never shows the credentials of a URL (`scheme://user:secret@host`), whoever wrote them there.
  const plain = createLogger({ quiet: flags.quiet, debug: flags.debug });
  const logger: Logger = {
    info: (m) => plain.info(redactUrls(m)),
    warn: (m) => plain.warn(redactUrls(m)),
    debug: (m) => plain.debug(redactUrls(m)),
  };
  let store: Store | undefined;
  // Progress is for people at a terminal: never in pipes, logs, --json or --quiet.
  const progress = process.stderr.isTTY && !flags.quiet && !flags.json ? createTerminalProgress(process.stderr) : silentProgress;
  return {
    config,
    json: flags.json,
    quiet: flags.quiet,
    logger,
    progress,
    out: (raw) => {
      const text = redactUrls(raw);
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    idleTimeoutMs: () => networkIdleTimeoutMs(config.values.network_idle_timeout),
    store: () => {
      store ??= openStore({ home: config.values.home, user: validateUser(config.values.user), logger, progress });
      return store;
    },
    close: () => store?.close(),
  };
}
