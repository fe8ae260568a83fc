import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { toHex } from '../common/bytes.ts';
import { listenUrl } from '../common/http.ts';
import { jsonLogger, type Logger } from '../common/logger.ts';
import { ValidationError } from '../common/errors.ts';
import { once } from '../common/once.ts';
import { buildLegacyApi, DEFAULT_LEGACY_SCHEME, isLegacyScheme, LEGACY_SCHEMES, type LegacyScheme, type SingleKeySigner } from '../compat/legacy-signer.ts';
import { LegacyStore } from '../compat/legacy-store.ts';
import { Pkcs11Ed25519Signer } from '../hsm/pkcs11-ed25519.ts';
import { Pkcs11Secp256k1Signer } from '../hsm/pkcs11-secp256k1.ts';
import type { TokenConfig } from '../hsm/pkcs11-token.ts';
import { resolvePin } from '../hsm/pin.ts';
import { provisionSoftHsmToken, softHsmTokenExists, useSoftHsmConf } from '../hsm/softhsm.ts';
import { newPin, writeSecretFile } from './local-cluster.ts';

export { DEFAULT_LEGACY_SCHEME, isLegacyScheme, LEGACY_SCHEMES, type LegacyScheme } from '../compat/legacy-signer.ts';

/**
 * The legacy single-key signer as a running service: compat/legacy-signer.ts is the front door
 * (HTTP, request log); this wires it to a key in its own SoftHSM token, which is why it lives here
 * and not in compat/, which does not touch HSMs.
 */
export type LegacySignerOptions = {
  /** Holds the SoftHSM token (hsm/), the user PIN file when custos chose the PIN, and legacy-signer.db. */
  dataDir: string;
  /**
   * Which key the token signs with; default 'ed25519'. Each scheme has its own key (its own label)
   * in the same token, so one data directory can serve either, one per process.
   */
  scheme?: LegacyScheme;
  /** TCP port on 127.0.0.1; default 0 (chosen by the OS). */
  port?: number;
  /** Default 'custos-legacy'. */
  tokenLabel?: string;
  /** User PIN. Omitted: read from <dataDir>/hsm-pin, which is written (0600, random PIN) when the token is created. */
  pin?: string;
  /** PKCS#11 module; default the system SoftHSM2. */
  modulePath?: string;
  verifySignatures?: boolean;
  log?: Logger;
};

export type RunningLegacySigner = {
  url: string;
  scheme: LegacyScheme;
  keyId: string;
  /** Hex: 32 bytes for ed25519, 33 (compressed) for ecdsa-secp256k1. */
  publicKey: string;
  close(): Promise<void>;
};

export const LEGACY_TOKEN_LABEL = 'custos-legacy';
export const LEGACY_PIN_FILE = 'hsm-pin';
export const LEGACY_DB_FILE = 'legacy-signer.db';

/**
 * Provisions (first run) and opens the signer's own SoftHSM token in `dataDir`, opens its request
 * log and serves on 127.0.0.1. The process then uses that token directory's softhsm2.conf
 * (one process, one token directory: softhsm.ts); run it as its own process beside a cluster.
 */
export async function startLegacySigner(opts: LegacySignerOptions): Promise<RunningLegacySigner> {
  const scheme = opts.scheme ?? DEFAULT_LEGACY_SCHEME;
  if (!isLegacyScheme(scheme)) throw new ValidationError(`scheme must be one of ${LEGACY_SCHEMES.join(', ')}`, { code: 'config.scheme' });
  const dataDir = resolve(opts.dataDir);
  const tokenLabel = opts.tokenLabel ?? LEGACY_TOKEN_LABEL;
  const log = opts.log ?? jsonLogger('legacy-signer');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pinFile = join(dataDir, LEGACY_PIN_FILE);
  const exists = softHsmTokenExists(dataDir, tokenLabel);
  // The PIN file is written before the token exists: a crash in between must not leave a token whose PIN nobody knows.
  const pin = opts.pin ?? (exists ? resolvePin({ pinFile }) : writeSecretFile(pinFile, newPin()));
  const tok = provisionSoftHsmToken({ dataDir, label: tokenLabel, soPin: newPin(), userPin: pin, modulePath: opts.modulePath });
  if (tok.created) log.info('legacy.token_created', { token: tokenLabel });
  useSoftHsmConf(tok.confPath);
  const signer = openSigner(scheme, { modulePath: tok.modulePath, tokenLabel, pin });
  let store: LegacyStore | undefined;
  let app: FastifyInstance | undefined;
  try {
    store = new LegacyStore(join(dataDir, LEGACY_DB_FILE));
    app = buildLegacyApi({ signer, store, log, verifySignatures: opts.verifySignatures });
    const url = await listenUrl(app, '127.0.0.1', opts.port ?? 0);
    log.info('legacy.listening', { url, key: signer.keyId, scheme });
    const a = app;
    const s = store;
    return {
      url,
      scheme,
      keyId: signer.keyId,
      publicKey: toHex(signer.publicKey()),
      close: once(async () => {
        try { await a.close(); } finally {
          s.close();
          signer.close();
        }
      }),
    };
  } catch (e) {
    try { await app?.close(); } catch { /* already failing */ }
    store?.close();
    signer.close();
    throw e;
  }
}

/** The scheme's key in the token, generated on first use (hsm/pkcs11-ed25519.ts, hsm/pkcs11-secp256k1.ts). */
function openSigner(scheme: LegacyScheme, token: TokenConfig): SingleKeySigner & { close(): void } {
  return scheme === 'ecdsa-secp256k1' ? Pkcs11Secp256k1Signer.open(token) : Pkcs11Ed25519Signer.open(token);
}
