import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, toHex } from '../../../src/common/bytes.ts';
import type { Scheme } from '../../../src/common/schemes.ts';
import { SoftwareKeystore } from '../../../src/hsm/software-keystore.ts';
import {
  aggregate, commit, identifierAt, publicKeyReport, signShare, verifyShare, verifySignature,
  type FrostCommitment, type FrostKeyPublic, type FrostKeyShare,
} from '../../../src/protocols/frost/index.ts';
import { decodeNonces } from '../../../src/protocols/frost/nonces.ts';
import { nobleSuite, scriptedRng } from './helpers.ts';

/** RFC 9591 Appendix E, as published (test/vectors/rfc9591/*.json). */
type Vector = {
  source: string;
  config: { MIN_PARTICIPANTS: string; MAX_PARTICIPANTS: string; NUM_PARTICIPANTS: string; name: string };
  inputs: {
    participant_list: number[];
    group_secret_key: string;
    group_public_key: string;
    message: string;
    share_polynomial_coefficients: string[];
    participant_shares: { identifier: number; participant_share: string }[];
  };
  round_one_outputs: { outputs: {
    identifier: number;
    hiding_nonce_randomness: string; binding_nonce_randomness: string;
    hiding_nonce: string; binding_nonce: string;
    hiding_nonce_commitment: string; binding_nonce_commitment: string;
    binding_factor_input: string; binding_factor: string;
  }[] };
  round_two_outputs: { outputs: { identifier: number; sig_share: string }[] };
  final_output: { sig: string };
};

const CASES: [Scheme, string][] = [
  ['frost-ed25519', 'frost-ed25519-sha512.json'],
  ['frost-secp256k1', 'frost-secp256k1-sha256.json'],
];

function load(file: string): Vector {
  return JSON.parse(readFileSync(new URL(`../../vectors/rfc9591/${file}`, import.meta.url), 'utf8')) as Vector;
}

const party = (identifier: number) => `p${identifier}`;

/** The vector's trusted-dealer key as our DKG would report it: Feldman commitments
 * [group key, coefficient_1·G], verifying shares share_i·G (noble point arithmetic). */
function keyOf(scheme: Scheme, v: Vector): FrostKeyPublic {
  const Fn = nobleSuite(scheme).utils.Fn;
  const baseMul = (scalarHex: string) => {
    const k = Fn.fromBytes(fromHex(scalarHex));
    return toHex(scheme === 'frost-ed25519' ? ed25519.Point.BASE.multiply(k).toBytes() : secp256k1.Point.BASE.multiply(k).toBytes(true));
  };
  const shares = v.inputs.participant_shares;
  assert.deepEqual(shares.map((s) => s.identifier), shares.map((_, i) => i + 1), 'vector identifiers are 1..n in order');
  return {
    scheme,
    threshold: Number(v.config.MIN_PARTICIPANTS),
    parties: shares.map((s) => party(s.identifier)),
    groupCommitments: [v.inputs.group_public_key, ...v.inputs.share_polynomial_coefficients.map(baseMul)],
    verifyingShares: Object.fromEntries(shares.map((s) => [party(s.identifier), baseMul(s.participant_share)])),
  };
}

for (const [scheme, file] of CASES) {
  describe(`RFC 9591 ${file} through our rounds (${scheme})`, () => {
    const v = load(file);
    const pub = keyOf(scheme, v);
    const message = fromHex(v.inputs.message);
    const shareOf = (id: number): FrostKeyShare => ({
      ...pub,
      self: party(id),
      secretShare: fromHex(v.inputs.participant_shares.find((s) => s.identifier === id)!.participant_share),
    });

    it('reports the vector group public key', () => {
      assert.equal(publicKeyReport(pub).publicKey, v.inputs.group_public_key);
      assert.equal(publicKeyReport(pub).internalKey, undefined);
    });

    it('matches nonces, commitments, identifiers, signature shares and the signature byte for byte', () => {
      const ks = new SoftwareKeystore();
      const ctx = (p: string) => ({ keyId: `rfc9591/${scheme}`, party: p, purpose: 'frost-nonce' as const });
      const sealed = new Map<number, Uint8Array>();
      const commitments: FrostCommitment[] = [];

      // Round one: each signer's rng yields the vector's nonce randomness (hiding first).
      for (const o of v.round_one_outputs.outputs) {
        const rng = scriptedRng([o.hiding_nonce_randomness, o.binding_nonce_randomness]);
        const r1 = commit(shareOf(o.identifier), rng);
        assert.equal(rng.remaining(), 0, 'commit draws exactly the two 32-byte randomness strings');
        const nonces = decodeNonces(r1.nonces, { scheme, party: party(o.identifier) });
        assert.equal(toHex(nonces.hiding), o.hiding_nonce);
        assert.equal(toHex(nonces.binding), o.binding_nonce);
        assert.equal(r1.commitment.party, party(o.identifier));
        assert.equal(r1.commitment.hiding, o.hiding_nonce_commitment);
        assert.equal(r1.commitment.binding, o.binding_nonce_commitment);
        // binding_factor_input ends with SerializeScalar(identifier) (RFC 9591 Section 4.4).
        assert.equal(r1.commitment.identifier, o.binding_factor_input.slice(-64));
        assert.equal(r1.commitment.identifier, identifierAt(scheme, o.identifier - 1));
        sealed.set(o.identifier, ks.seal(r1.nonces, ctx(party(o.identifier))));
        r1.nonces.fill(0);
        commitments.push(r1.commitment);
      }
      assert.deepEqual(commitments.map((c) => c.party), v.inputs.participant_list.map(party));

      // Round two: unseal, sign, and the unsealed bytes are consumed.
      const shares: Record<string, string> = {};
      for (const o of v.round_two_outputs.outputs) {
        const p = party(o.identifier);
        const nonceBytes = ks.unseal(sealed.get(o.identifier)!, ctx(p));
        shares[p] = signShare(shareOf(o.identifier), nonceBytes, commitments, message);
        assert.equal(shares[p], o.sig_share);
        assert.ok(nonceBytes.every((b) => b === 0), 'nonce bytes are wiped after use');
        assert.equal(verifyShare(pub, commitments, message, p, shares[p]), true);
      }

      const signature = aggregate(pub, commitments, message, shares);
      assert.equal(signature, v.final_output.sig);
      assert.equal(verifySignature(scheme, publicKeyReport(pub).publicKey, message, signature), true);
      if (scheme === 'frost-ed25519') {
        // FROST(Ed25519, SHA-512) signatures are plain RFC 8032 Ed25519 signatures.
        assert.equal(ed25519.verify(fromHex(signature), message, fromHex(v.inputs.group_public_key), { zip215: false }), true);
      }
    });

    it('aggregates regardless of the order of the commitment list', () => {
      const outs = v.round_one_outputs.outputs;
      const commitments = outs.map((o) => ({ party: party(o.identifier), hiding: o.hiding_nonce_commitment, binding: o.binding_nonce_commitment })).reverse();
      const shares = Object.fromEntries(v.round_two_outputs.outputs.map((o) => [party(o.identifier), o.sig_share]));
      assert.equal(aggregate(pub, commitments, message, shares), v.final_output.sig);
    });
  });
}
