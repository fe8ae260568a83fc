import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import pkcs11js from 'pkcs11js';
import { equalBytes, utf8 } from '../../src/common/bytes.ts';
import { P256_EC_PARAMS, SECP256K1_EC_PARAMS } from '../../src/hsm/pkcs11-ec.ts';
import { Pkcs11Ed25519Signer } from '../../src/hsm/pkcs11-ed25519.ts';
import { DEFAULT_SECP256K1_KEY_LABEL, Pkcs11Secp256k1Signer, recoverableLowS } from '../../src/hsm/pkcs11-secp256k1.ts';
import { hsmError } from './hsm-error.ts';
import { plant, signerSetup, singleKeySignerContract } from './single-key-contract.ts';

const N = secp256k1.Point.Fn.ORDER;
const open = (config: Parameters<typeof Pkcs11Secp256k1Signer.open>[0]) => Pkcs11Secp256k1Signer.open(config);
const GENERATE = { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN, ecParams: SECP256K1_EC_PARAMS };

singleKeySignerContract({
  open,
  defaultKeyLabel: DEFAULT_SECP256K1_KEY_LABEL,
  keyType: pkcs11js.CKK_EC,
  isCurve: (ecParams) => equalBytes(ecParams, SECP256K1_EC_PARAMS),
  generate: GENERATE,
  signs(s) {
    const digest = randomBytes(32);
    const { signature } = s.sign(digest);
    return (pub) => secp256k1.verify(signature, digest, pub, { prehash: false, lowS: true });
  },
});

/** The key the recovery id leads to, compressed; the test's own check of the signer's claim. */
function recovered(sig: Uint8Array, recoveryId: number, digest: Uint8Array): Uint8Array {
  return secp256k1.Signature.fromBytes(sig, 'compact').addRecoveryBit(recoveryId).recoverPublicKey(digest).toBytes(true);
}

const sBigint = (sig: Uint8Array) => secp256k1.Signature.fromBytes(sig, 'compact').s;

test('signatures are low-s ECDSA over the digest: they verify with @noble/curves (lowS enforced), only for their digest and key', (t) => {
  const s = signerSetup(t, ['k1'], open).open('k1');
  assert.equal(s.scheme, 'ecdsa-secp256k1');
  assert.match(s.keyId, /^secp256k1-[0-9a-f]{32}$/);
  const pub = s.publicKey();
  assert.equal(pub.length, 33);
  assert.ok(pub[0] === 2 || pub[0] === 3);
  const ids = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const digest = i === 0 ? sha256(utf8('pay 1 BTC to bob')) : randomBytes(32);
    const { signature, recoveryId } = s.sign(digest);
    assert.equal(signature.length, 64);
    assert.ok(sBigint(signature) <= N >> 1n, 'low s');
    assert.ok(secp256k1.verify(signature, digest, pub, { prehash: false, lowS: true }));
    assert.deepEqual(recovered(signature, recoveryId, digest), pub, 'the recovery id leads to the key');
    assert.notDeepEqual(recovered(signature, 1 - recoveryId, digest), pub, 'and the other one does not');
    const other = digest.slice();
    other[31] ^= 1;
    assert.equal(secp256k1.verify(signature, other, pub, { prehash: false }), false, 'a changed digest must not verify');
    ids.add(recoveryId);
  }
  // Both ids occur with probability 1 - 2^-39: the id is computed, not a constant.
  assert.deepEqual([...ids].sort(), [0, 1]);
  // The token draws the nonce: two signatures of one digest differ, both valid.
  const d = randomBytes(32);
  const a = s.sign(d);
  const b = s.sign(d);
  assert.notDeepEqual(a.signature, b.signature);
  const stranger = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey());
  assert.equal(secp256k1.verify(a.signature, d, stranger, { prehash: false }), false);
});

test('sign takes exactly a 32-byte digest', (t) => {
  const s = signerSetup(t, ['k1'], open).open('k1');
  for (const bad of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33), utf8('a message, not a digest'), 'ab'.repeat(32) as unknown as Uint8Array]) {
    assert.throws(() => s.sign(bad), hsmError('hsm.config', '32-byte digest'));
  }
  assert.equal(s.healthy(), true);
});

test('recoverableLowS: a high-s answer is normalised and its id flips; a signature under another key is refused', () => {
  const sk = secp256k1.utils.randomSecretKey();
  const pub = secp256k1.getPublicKey(sk);
  const digest = randomBytes(32);
  const low = secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' });
  const lowRid = low[0];
  const compact = low.subarray(1);
  const sig = secp256k1.Signature.fromBytes(compact, 'compact');
  const high = new secp256k1.Signature(sig.r, N - sig.s).toBytes('compact');
  assert.deepEqual(recoverableLowS(compact, digest, pub), { signature: compact, recoveryId: lowRid });
  assert.deepEqual(recoverableLowS(high, digest, pub), { signature: compact, recoveryId: lowRid }, 'n - s names the same R negated: same low-s result');
  const stranger = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey());
  assert.throws(() => recoverableLowS(compact, digest, stranger), hsmError('hsm.bad_signature'));
  assert.throws(() => recoverableLowS(compact, randomBytes(32), pub), hsmError('hsm.bad_signature'));
  assert.throws(() => recoverableLowS(compact.subarray(1), digest, pub), hsmError('hsm.device_error', '63 bytes'));
  assert.throws(() => recoverableLowS(new Uint8Array(64), digest, pub), hsmError('hsm.bad_signature', 'outside'));
});

test('Ed25519 and secp256k1 keys share a token', (t) => {
  const { f, open: openSigner } = signerSetup(t, ['k1'], open);
  const a = openSigner('k1');
  a.close();
  const ed = Pkcs11Ed25519Signer.open({ modulePath: f.modulePath, tokenLabel: 'k1', pin: f.pins.k1 });
  const edPub = ed.publicKey();
  ed.close();
  const again = openSigner('k1');
  assert.equal(again.keyId, a.keyId, 'the Ed25519 key beside it does not disturb the secp256k1 one');
  assert.equal(edPub.length, 32);
});

test('a well-kept P-256 key under the label is refused: the curve is checked, not assumed (hsm.key_policy)', (t) => {
  const { f, open: openSigner } = signerSetup(t, ['k1'], open);
  plant(f, 'k1', DEFAULT_SECP256K1_KEY_LABEL, { ...GENERATE, ecParams: P256_EC_PARAMS }, [
    { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false }, { type: pkcs11js.CKA_SIGN, value: true },
  ]);
  assert.throws(() => openSigner('k1'), hsmError('hsm.key_policy', 'not on secp256k1'));
});
