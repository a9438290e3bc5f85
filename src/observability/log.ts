import { pino } from 'pino';

/** The logging surface halo code depends on (pino's Logger satisfies it; tests pass a silent one). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export function makeLogger(opts: { name: string; level?: string; destination?: number | string }): Logger {
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: false });
  return pino({ name: opts.name, level: opts.level ?? process.env['HALO_LOG_LEVEL'] ?? 'info', base: { name: opts.name } }, dest);
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };
