/** Where domain code reports progress and warnings; the CLI decides how (or whether) to show them. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** A logger that drops everything (tests, --quiet for info). */
export const silentLogger: Logger = {
  info: () => {},
  warn: () => {},
  debug: () => {},
};

/** A logger writing to a stream (stderr by default), warnings always, info unless quiet. */
export function createLogger(options: { quiet?: boolean; debug?: boolean; stream?: NodeJS.WritableStream } = {}): Logger {
  const stream = options.stream ?? process.stderr;
  return {
    info: (message) => {
      if (!options.quiet) stream.write(`${message}\n`);
    },
    warn: (message) => {
      stream.write(`warning: ${message}\n`);
    },
    debug: (message) => {
      if (options.debug) stream.write(`debug: ${message}\n`);
    },
  };
}
