import { readFileSync } from 'node:fs';
import { HsmError } from '../common/errors.ts';

/** Where the token's user PIN comes from: the name of an environment variable, or a file. */
export type PinSource = { pinEnv?: string; pinFile?: string };

/**
 * Reads the user PIN from exactly one source. A file may end with one newline (as `echo`
 * writes it); nothing else is trimmed. Errors name the variable or file, never the PIN.
 */
export function resolvePin(source: PinSource, env: NodeJS.ProcessEnv = process.env): string {
  const { pinEnv, pinFile } = source;
  if (pinEnv !== undefined && pinFile !== undefined) throw unavailable('give the HSM PIN either as an environment variable or as a file, not both');
  if (pinEnv !== undefined) {
    if (pinEnv === '') throw unavailable('the name of the HSM PIN environment variable is empty');
    const v = env[pinEnv];
    if (v === undefined) throw unavailable(`environment variable ${pinEnv} (the HSM PIN) is not set`);
    if (v === '') throw unavailable(`environment variable ${pinEnv} (the HSM PIN) is empty`);
    return v;
  }
  if (pinFile !== undefined) {
    if (pinFile === '') throw unavailable('the HSM PIN file path is empty');
    let text: string;
    try {
      text = readFileSync(pinFile, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw unavailable(`cannot read the HSM PIN file ${pinFile} (${code})`);
    }
    const pin = text.replace(/\r?\n$/, '');
    if (pin === '') throw unavailable(`the HSM PIN file ${pinFile} is empty`);
    if (/[\r\n]/.test(pin)) throw unavailable(`the HSM PIN file ${pinFile} has more than one line`);
    return pin;
  }
  throw unavailable('no HSM PIN source configured (set an environment variable name or a PIN file)');
}

function unavailable(message: string): HsmError {
  return new HsmError('hsm.pin_unavailable', message);
}
