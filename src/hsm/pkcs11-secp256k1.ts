import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import pkcs11js from 'pkcs11js';
import { utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import { ecPointToCompressed, isCurveParams, lowS, SECP256K1, SECP256K1_EC_PARAMS } from './pkcs11-ec.ts';
import { Pkcs11SingleKeySigner, type SingleKeyConfig, type SingleKeySpec } from './pkcs11-single-key.ts';
import { findSoftHsmModule } from './softhsm.ts';

/**
 * One secp256k1 key pair in a PKCS#11 token, signing 32-byte digests with CKM_ECDSA (PKCS#11 2.40
 * §2.3.7): the single-key baseline threshold ECDSA (DKLs23) is compared with. How the key is
 * opened, checked and kept is pkcs11-single-key.ts.
 */
export type Pkcs11Secp256k1Config = SingleKeyConfig;

/** An ECDSA signature as Bitcoin and Ethereum take it. */
export type RecoverableSignature = {
  /** 64 bytes r ‖ s, s in the low half of the group order (BIP 62 / EIP-2), one valid encoding. */
  signature: Uint8Array;
  /** Which of the two candidate R points (even or odd y) the public key is recovered from (SEC 1 §4.1.6). */
  recoveryId: 0 | 1;
};

export const DEFAULT_SECP256K1_KEY_LABEL = 'legacy-secp256k1';
export const SECP256K1_DIGEST_BYTES = 32;
const SELF_TEST_DIGEST = sha256(utf8('custos secp256k1 self-test'));

/**
 * CKM_ECDSA output (r ‖ s) to low-s with its recovery id: the id is the one of 0 and 1 whose
 * recovery gives `publicKey` back. Recovering the key checks the signature too, so a token that
 * signed with another key, or wrongly, is caught here (hsm.bad_signature). Ids 2 and 3 (r ≥ n
 * after reduction, probability about 2^-128) are not offered: such a signature is refused too.
 */
export function recoverableLowS(rs: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): RecoverableSignature {
  const sig = lowS(rs, SECP256K1);
  const want = secp256k1.Point.fromBytes(publicKey);
  for (const recoveryId of [0, 1] as const) {
    let q;
    try {
      q = sig.addRecoveryBit(recoveryId).recoverPublicKey(digest);
    } catch {
      continue; // no point with this x and parity, or the point at infinity: not this id
    }
    if (q.equals(want)) return { signature: sig.toBytes('compact'), recoveryId };
  }
  throw new HsmError('hsm.bad_signature', 'the HSM returned an ECDSA signature that does not recover to its public key');
}

const SECP256K1_KEY: SingleKeySpec = {
  name: 'secp256k1',
  keyIdPrefix: 'secp256k1-',
  defaultKeyLabel: DEFAULT_SECP256K1_KEY_LABEL,
  keyType: pkcs11js.CKK_EC,
  generate: { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN, ecParams: SECP256K1_EC_PARAMS, name: 'CKM_EC_KEY_PAIR_GEN', what: 'EC keys' },
  sign: { mechanism: pkcs11js.CKM_ECDSA, name: 'CKM_ECDSA' },
  curve: { name: 'secp256k1', is: (ecParams) => isCurveParams(SECP256K1, ecParams), publicKey: (ecPoint) => ecPointToCompressed(ecPoint, SECP256K1) },
};

export class Pkcs11Secp256k1Signer extends Pkcs11SingleKeySigner {
  readonly scheme = 'ecdsa-secp256k1';

  private constructor(config: Pkcs11Secp256k1Config) {
    super(config, SECP256K1_KEY);
  }

  /** Opens the key pair (errors: Pkcs11SingleKeySigner) and signs once to check it. */
  static open(config: Pkcs11Secp256k1Config): Pkcs11Secp256k1Signer {
    const s = new Pkcs11Secp256k1Signer(config);
    // sign() already recovers the key from the signature; the independent verifier also catches
    // a module whose ECDSA is not SEC 1 over the digest as given.
    return s.selfTested(() => secp256k1.verify(s.sign(SELF_TEST_DIGEST).signature, SELF_TEST_DIGEST, s.publicKey(), { prehash: false }));
  }

  /**
   * ECDSA over a 32-byte digest the caller computed (the module does no hashing), low-s, with the
   * recovery id; publicKey() gives the 33-byte compressed SEC 1 key. Not deterministic: the token
   * draws the nonce.
   */
  sign(digest: Uint8Array): RecoverableSignature {
    this.requireOpen();
    if (!(digest instanceof Uint8Array) || digest.length !== SECP256K1_DIGEST_BYTES) throw new HsmError('hsm.config', `sign expects a ${SECP256K1_DIGEST_BYTES}-byte digest`);
    return recoverableLowS(this.signRaw(digest), digest, this.publicKey());
  }
}

/**
 * Opens the signer; `modulePath` defaults to the embedded SoftHSM2 (findSoftHsmModule).
 * For SoftHSM, SOFTHSM2_CONF must already name the right conf (softhsm.ts useSoftHsmConf).
 */
export function openPkcs11Secp256k1(config: Omit<Pkcs11Secp256k1Config, 'modulePath'> & { modulePath?: string }): Pkcs11Secp256k1Signer {
  return Pkcs11Secp256k1Signer.open({ ...config, modulePath: config.modulePath ?? findSoftHsmModule() });
}
