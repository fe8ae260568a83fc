/**
 * EIP-712 typed structured data, as `eth_signTypedData_v4` sends it: UTF-8 JSON of
 * {types, primaryType, domain, message}. The key signs
 * keccak256(0x19 0x01 || hashStruct(EIP712Domain, domain) || hashStruct(primaryType, message))
 * (EIP-712 "Specification of the eth_signTypedData JSON RPC" and "Definition of hashStruct").
 *
 * The digest is micro-eth-signer's (`core/message.js`, `sigHash`). That module is not in the
 * package's `exports` map (the root re-exports only sign/verify/recover), so it is loaded by file
 * path next to the resolved package entry; the version is pinned in package.json.
 *
 * What a policy sees: the chain (domain.chainId) and the verifying contract. The domain is held
 * to the standard fields with their standard types, so those two values mean what they say.
 */
import { createRequire } from 'node:module';
import { ValidationError } from '../../common/errors.ts';
import type { DecodedPayload } from '../payload.ts';
import { parseHexAddress } from './address.ts';

type TypedJson = { types: Record<string, { name: string; type: string }[]>; primaryType: string; domain: Record<string, unknown>; message: Record<string, unknown> };

const require = createRequire(import.meta.url);
const message712 = require(require.resolve('micro-eth-signer').replace(/index\.js$/, 'core/message.js')) as {
  sigHash?: (typed: TypedJson) => string;
};
// Fail at load, not at the first signature, if a new library version moved the module.
if (typeof message712.sigHash !== 'function') throw new Error('micro-eth-signer core/message.js has no sigHash: check the pinned version');
const sigHash = message712.sigHash;

/** EIP-712 "Definition of domainSeparator": the only fields a domain may have, with their types. */
const DOMAIN_FIELDS: Record<string, string> = {
  name: 'string',
  version: 'string',
  chainId: 'uint256',
  verifyingContract: 'address',
  salt: 'bytes32',
};
const TOP_KEYS = ['domain', 'message', 'primaryType', 'types'];

function refuse(message: string): ValidationError {
  return new ValidationError(`EIP-712 payload: ${message}`, { code: 'payload.undecodable' });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** domain.chainId as the digest will hash it: a positive integer, as a JSON number or a decimal or 0x string. */
function chainIdOf(v: unknown): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return BigInt(v);
  if (typeof v === 'string' && (/^[1-9][0-9]*$/.test(v) || /^0x[0-9a-fA-F]+$/.test(v)) && BigInt(v) > 0n) return BigInt(v);
  throw refuse('domain.chainId must be a positive integer');
}

function parseJson(bytes: Uint8Array): TypedJson {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw refuse('not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw refuse('not valid JSON');
  }
  if (!isObject(json)) throw refuse('must be a JSON object');
  const keys = Object.keys(json).sort();
  if (keys.join(',') !== TOP_KEYS.join(',')) throw refuse(`must have exactly the keys ${TOP_KEYS.join(', ')}; got ${keys.join(', ')}`);
  const { types, primaryType, domain, message } = json;
  if (!isObject(types) || !Object.values(types).every(Array.isArray)) throw refuse('types must map type names to field lists');
  if (typeof primaryType !== 'string' || !Object.hasOwn(types, primaryType)) throw refuse('primaryType must name one of types');
  if (primaryType === 'EIP712Domain') throw refuse('primaryType EIP712Domain signs no message');
  if (!isObject(domain)) throw refuse('domain must be an object');
  if (!isObject(message)) throw refuse('message must be an object');
  for (const k of Object.keys(domain)) if (!Object.hasOwn(DOMAIN_FIELDS, k)) throw refuse(`domain field ${JSON.stringify(k)} is not an EIP-712 domain field`);
  if (Object.hasOwn(types, 'EIP712Domain')) {
    // A declared domain type is authoritative for the digest: it must not re-type the standard
    // fields (a chainId hashed as a string would not be the chain the policy saw).
    const declared = types.EIP712Domain as unknown[];
    const names = new Set<string>();
    for (const f of declared) {
      if (!isObject(f) || typeof f.name !== 'string' || DOMAIN_FIELDS[f.name] !== f.type || names.has(f.name)) {
        throw refuse(`types.EIP712Domain entry ${JSON.stringify(f)} is not a standard domain field`);
      }
      names.add(f.name);
    }
    const present = Object.keys(domain);
    if (present.length !== names.size || !present.every((k) => names.has(k))) {
      throw refuse('types.EIP712Domain must declare exactly the fields present in domain');
    }
  }
  return json as TypedJson;
}

/** Decodes an eth_signTypedData_v4 payload into its digest, chain and verifying contract. */
export function decodeTypedData(bytes: Uint8Array): DecodedPayload {
  const typed = parseJson(bytes);
  const { domain } = typed;
  const chain = domain.chainId === undefined ? null : `eip155:${chainIdOf(domain.chainId)}`;
  let to: string | null = null;
  if (domain.verifyingContract !== undefined) {
    to = parseHexAddress(domain.verifyingContract);
    if (to === null) throw refuse('domain.verifyingContract must be a 0x address with a valid checksum');
  }
  let digestHex: string;
  try {
    digestHex = sigHash(typed);
  } catch (e) {
    throw refuse(`does not encode: ${(e instanceof Error ? e.message : String(e)).slice(0, 300)}`);
  }
  return {
    txType: 'typed-data',
    chain,
    contract: null,
    to,
    amount: '0',
    data: null,
    signBytes: new Uint8Array(Buffer.from(digestHex.replace(/^0x/, ''), 'hex')),
  };
}
