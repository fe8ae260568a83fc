import { canonicalBytes } from '../common/canonical-json.ts';
import { concatBytes, utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import type { SealContext } from './keystore.ts';

/**
 * The one format of a sealed secret, whichever keystore made it:
 *   "CSB1" | u8 len | sealingKeyId (utf8) | iv (12) | AES-256-GCM ciphertext‖tag (16)
 * The associated data is canonical JSON of (version, sealing key id, key id, party, purpose), so a
 * blob moved to another key, party or purpose, or to another token, fails authentication.
 */
const MAGIC = utf8('CSB1');
export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;

export type ParsedBlob = { sealingKeyId: string; iv: Uint8Array; ciphertext: Uint8Array };

export function associatedData(sealingKeyId: string, ctx: SealContext): Uint8Array {
  return canonicalBytes({ v: 1, sealingKeyId, keyId: ctx.keyId, party: ctx.party, purpose: ctx.purpose });
}

export function encodeBlob(sealingKeyId: string, iv: Uint8Array, ciphertextWithTag: Uint8Array): Uint8Array {
  const id = utf8(sealingKeyId);
  if (id.length > 255) throw new HsmError('hsm.config', 'sealing key id too long');
  return concatBytes(MAGIC, Uint8Array.of(id.length), id, iv, ciphertextWithTag);
}

export function decodeBlob(blob: Uint8Array): ParsedBlob {
  const bad = () => new HsmError('hsm.seal_invalid', 'sealed blob is malformed or truncated');
  if (!(blob instanceof Uint8Array) || blob.length < MAGIC.length + 1 + GCM_IV_BYTES + GCM_TAG_BYTES) throw bad();
  for (let i = 0; i < MAGIC.length; i++) if (blob[i] !== MAGIC[i]) throw bad();
  const idLen = blob[4];
  const start = 5 + idLen;
  if (blob.length < start + GCM_IV_BYTES + GCM_TAG_BYTES) throw bad();
  const sealingKeyId = new TextDecoder().decode(blob.subarray(5, start));
  return { sealingKeyId, iv: blob.slice(start, start + GCM_IV_BYTES), ciphertext: blob.slice(start + GCM_IV_BYTES) };
}

export function wrongToken(found: string, expected: string): HsmError {
  return new HsmError('hsm.seal_invalid', `sealed blob belongs to sealing key ${found}, this token's key is ${expected}`);
}

export function tamperedOrMoved(ctx: SealContext): HsmError {
  return new HsmError('hsm.seal_invalid', `sealed blob failed authentication for key ${ctx.keyId}, party ${ctx.party}, purpose ${ctx.purpose}: it was tampered with or sealed for another key, party or purpose`);
}
