import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ValidationError } from '../common/errors.ts';
import { loadCredentials } from './credentials.ts';

/** Parses a subcommand's flags; unknown flags are a clear usage error, never a stack trace. */
type Options = NonNullable<ParseArgsConfig['options']>;
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...HELP_OPTION, ...options } as O & typeof HELP_OPTION, allowPositionals, strict: true });
  } catch (e) {
    throw new ValidationError((e as Error).message.split('\n')[0], { code: 'cli.usage' });
  }
}

export function defaultHome(): string {
  return process.env.CUSTOS_HOME ?? '.custos';
}

export function defaultPort(): number {
  const p = process.env.CUSTOS_PORT;
  if (p === undefined) return 8700;
  const n = Number(p);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ValidationError(`CUSTOS_PORT must be a port number, got ${JSON.stringify(p)}`, { code: 'cli.usage' });
  return n;
}

export function defaultUrl(): string {
  return process.env.CUSTOS_URL ?? `http://127.0.0.1:${defaultPort()}`;
}

/** The API token: $CUSTOS_TOKEN, else the one in $CUSTOS_HOME/credentials.json (demo clusters). */
export function defaultToken(): string | undefined {
  if (process.env.CUSTOS_TOKEN) return process.env.CUSTOS_TOKEN;
  try {
    const token = loadCredentials(defaultHome())?.token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}
