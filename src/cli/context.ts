import { loadConfig, type Config } from '../config/index.ts';
import { createLogger, createTerminalProgress, redactUrls, silentProgress, type Logger, type Progress } from '../core/index.ts';
import { createKiln, type Kiln, type Request } from '../app/index.ts';

/** What every command gets: configuration, output, and the core with this command's request. */
export interface Context {
  config: Config;
  json: boolean;
  quiet: boolean;
  logger: Logger;
  out: (text: string) => void;
  /** The application core. */
  kiln: Kiln;
  /** This command's request: the acting user (KILN_USER), its progress display and logger; `signal` to make it stoppable. */
  request(signal?: AbortSignal): Request;
  close: () => void;
}

/** Builds the command context from global flags and the environment. */
export function createContext(flags: { json: boolean; quiet: boolean; debug: boolean }, env: NodeJS.ProcessEnv = process.env): Context {
  const config = loadConfig(env);
  // Output never shows the credentials of a URL (`scheme://user:secret@host`), whoever wrote them there.
  const plain = createLogger({ quiet: flags.quiet, debug: flags.debug });
  const logger: Logger = {
    info: (m) => plain.info(redactUrls(m)),
    warn: (m) => plain.warn(redactUrls(m)),
    debug: (m) => plain.debug(redactUrls(m)),
  };
  // Progress is for people at a terminal: never in pipes, logs, --json or --quiet.
  const progress: Progress = process.stderr.isTTY && !flags.quiet && !flags.json ? createTerminalProgress(process.stderr) : silentProgress;
  const kiln = createKiln({ home: config.values.home, config, logger, env });
  return {
    config,
    json: flags.json,
    quiet: flags.quiet,
    logger,
    out: (raw) => {
      const text = redactUrls(raw);
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    kiln,
    request: (signal) => ({ user: config.values.user, progress, logger, ...(signal ? { signal } : {}) }),
    close: () => kiln.close(),
  };
}
