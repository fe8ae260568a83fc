#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * The legacy single-key signer as a process (legacy-signer.ts): the benchmark spawns it beside a
 * cluster so that it has its own SoftHSM conf. Prints one JSON line
 * {"listening": url, "keyId": …, "publicKey": …} on stdout once it serves; stops on SIGTERM/SIGINT.
 *   --data-dir DIR (required)  --port P (default 0: chosen by the OS)  --token-label L
 *   --scheme ed25519|ecdsa-secp256k1 (default ed25519: which key of the token signs; the ECDSA
 *     one signs 32-byte digests, {"payload":{"type":"digest","hex"}})
 *   --pin-file PATH | --pin-env NAME (default: DIR/hsm-pin, written when the token is created)
 *   --verify (check every signature before answering)
 */
import { parseArgs } from 'node:util';
import { checkNodeVersion } from '../common/runtime.ts';
import { stopSignal } from '../common/signals.ts';

checkNodeVersion();

const USAGE = 'usage: legacy-signer-main.ts --data-dir DIR [--port P] [--token-label L] [--scheme ed25519|ecdsa-secp256k1] [--pin-file PATH | --pin-env NAME] [--verify]';

process.exitCode = await main(process.argv.slice(2));

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        'data-dir': { type: 'string' }, port: { type: 'string' }, 'token-label': { type: 'string' }, scheme: { type: 'string' },
        'pin-file': { type: 'string' }, 'pin-env': { type: 'string' }, verify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`legacy-signer: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) { process.stdout.write(USAGE + '\n'); return 0; }
  const port = values.port === undefined ? 0 : Number(values.port);
  const dataDir = values['data-dir'];
  if (!dataDir || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`legacy-signer: ${dataDir ? '--port must be 0..65535' : '--data-dir is required'}\n${USAGE}\n`);
    return 2;
  }
  const { startLegacySigner, DEFAULT_LEGACY_SCHEME, isLegacyScheme, LEGACY_SCHEMES } = await import('./legacy-signer.ts');
  const scheme = values.scheme ?? DEFAULT_LEGACY_SCHEME;
  if (!isLegacyScheme(scheme)) {
    process.stderr.write(`legacy-signer: --scheme must be one of ${LEGACY_SCHEMES.join(', ')}\n${USAGE}\n`);
    return 2;
  }
  const { resolvePin } = await import('../hsm/pin.ts');
  const { asCustosError } = await import('../common/errors.ts');
  let running;
  try {
    const pinGiven = values['pin-file'] !== undefined || values['pin-env'] !== undefined;
    const pin = pinGiven ? resolvePin({ pinFile: values['pin-file'], pinEnv: values['pin-env'] }) : undefined;
    running = await startLegacySigner({ dataDir, port, scheme, tokenLabel: values['token-label'], pin, verifySignatures: values.verify });
  } catch (e) {
    const err = asCustosError(e);
    // A CustosError message never holds a secret; anything else is shown by its code only.
    process.stderr.write(`legacy-signer: ${err.code}: ${err.code === 'internal' ? String((e as NodeJS.ErrnoException).code ?? 'unexpected error') : err.message}\n`);
    return 1;
  }
  const stopped = stopSignal();
  process.stdout.write(JSON.stringify({ listening: running.url, keyId: running.keyId, publicKey: running.publicKey }) + '\n');
  await stopped;
  await running.close();
  return 0;
}
