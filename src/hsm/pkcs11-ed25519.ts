import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes, utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import { ecPointEncoding } from './pkcs11-ec.ts';
import { Pkcs11SingleKeySigner, type SingleKeyConfig, type SingleKeySpec } from './pkcs11-single-key.ts';
import { findSoftHsmModule } from './softhsm.ts';

/**
 * One Ed25519 key pair in a PKCS#11 token, signing with CKM_EDDSA (PKCS#11 3.0 §2.3.14, pure
 * Ed25519 of RFC 8032 §5.1.6 when no mechanism parameter is given): the single-key baseline of
 * FROST(Ed25519). How the key is opened, checked and kept is pkcs11-single-key.ts.
 */
export type Pkcs11Ed25519Config = SingleKeyConfig;

/** PKCS#11 3.0 values; pkcs11js 2.x carries the 2.40 headers only. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** CKA_EC_PARAMS of Ed25519: DER OBJECT IDENTIFIER 1.3.101.112 (RFC 8410 id-Ed25519). */
export const ED25519_EC_PARAMS = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
/** The same curve as a DER PrintableString "edwards25519" (PKCS#11 3.0 §2.3.5); SoftHSM 2.6 stores this form. */
export const ED25519_EC_PARAMS_PRINTABLE = Uint8Array.of(0x13, 0x0c, ...utf8('edwards25519'));

export const DEFAULT_ED25519_KEY_LABEL = 'legacy-ed25519';
const SELF_TEST_MESSAGE = utf8('custos ed25519 self-test');

export function isEd25519Params(ecParams: Uint8Array): boolean {
  return equalBytes(ecParams, ED25519_EC_PARAMS) || equalBytes(ecParams, ED25519_EC_PARAMS_PRINTABLE);
}

/**
 * CKA_EC_POINT of an Edwards key to the 32-byte RFC 8032 public key (the encoded point A, inside
 * a DER OCTET STRING or bare: ecPointEncoding). The encoding is checked to be a point of edwards25519.
 */
export function ed25519PointFromEcPoint(ecPoint: Uint8Array): Uint8Array {
  const raw = ecPointEncoding(ecPoint, 32);
  if (raw === undefined) throw new HsmError('hsm.bad_public_key', `CKA_EC_POINT is not an Ed25519 public key (${ecPoint.length} bytes)`);
  try {
    ed25519.Point.fromBytes(raw);
  } catch (e) {
    throw new HsmError('hsm.bad_public_key', 'CKA_EC_POINT is not a point of edwards25519', e);
  }
  return raw.slice();
}

const ED25519_KEY: SingleKeySpec = {
  name: 'Ed25519',
  keyIdPrefix: 'ed25519-',
  defaultKeyLabel: DEFAULT_ED25519_KEY_LABEL,
  keyType: CKK_EC_EDWARDS,
  generate: { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN, ecParams: ED25519_EC_PARAMS, name: 'CKM_EC_EDWARDS_KEY_PAIR_GEN', what: 'Ed25519 keys' },
  sign: { mechanism: CKM_EDDSA, name: 'CKM_EDDSA' },
  curve: { name: 'edwards25519', is: isEd25519Params, publicKey: ed25519PointFromEcPoint },
};

export class Pkcs11Ed25519Signer extends Pkcs11SingleKeySigner {
  private constructor(config: Pkcs11Ed25519Config) {
    super(config, ED25519_KEY);
  }

  /** Opens the key pair (errors: Pkcs11SingleKeySigner) and signs once to check it. */
  static open(config: Pkcs11Ed25519Config): Pkcs11Ed25519Signer {
    const s = new Pkcs11Ed25519Signer(config);
    // Strict verification: a module whose EdDSA is not RFC 8032 is caught too.
    return s.selfTested(() => ed25519.verify(s.sign(SELF_TEST_MESSAGE), SELF_TEST_MESSAGE, s.publicKey(), { zip215: false }));
  }

  /** Pure Ed25519 (RFC 8032 §5.1.6) of `message`, 64 bytes R ‖ S; deterministic. publicKey() gives the 32-byte RFC 8032 key. */
  sign(message: Uint8Array): Uint8Array {
    this.requireOpen();
    if (!(message instanceof Uint8Array)) throw new HsmError('hsm.config', 'sign expects bytes');
    return this.signRaw(message);
  }
}

/**
 * Opens the signer; `modulePath` defaults to the embedded SoftHSM2 (findSoftHsmModule).
 * For SoftHSM, SOFTHSM2_CONF must already name the right conf (softhsm.ts useSoftHsmConf).
 */
export function openPkcs11Ed25519(config: Omit<Pkcs11Ed25519Config, 'modulePath'> & { modulePath?: string }): Pkcs11Ed25519Signer {
  return Pkcs11Ed25519Signer.open({ ...config, modulePath: config.modulePath ?? findSoftHsmModule() });
}
