/**
 * JSON Schema fragments of the sign route, POST /v1/keys/{id}/sign, that the coordinator's REST API
 * (coordinator/schemas.ts) and the legacy single-key door (compat/legacy-schemes.ts) share: one
 * request shape, so that a client written for the legacy signer talks to custos unchanged. Each
 * side says which payload types it takes and what else the body may carry.
 */

/** Hex of whole bytes, any length: how the API writes every byte string. */
export const HEX_BYTES = { type: 'string', pattern: '^([0-9a-fA-F]{2})*$' } as const;

/**
 * The sign body {"payload": {"type", "hex"}, ...extra}: both fields of the payload required, and
 * no field unknown to the route at either level (a misspelt option must fail, not be ignored).
 */
export function signBodySchema<const P extends { type: object; hex: object }, const E extends object = {}>(payload: P, extra: E = {} as E) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['payload'],
    properties: {
      payload: { type: 'object', additionalProperties: false, required: ['type', 'hex'], properties: payload },
      ...extra,
    },
  } as const;
}
