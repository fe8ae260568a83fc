/**
 * JSON Schema fragments of the sign routes. The legacy single-key door (compat/legacy-schemes.ts)
 * takes the plain {"payload": …} body; the threshold coordinator takes initiator-signed requests
 * (coordinator/schemas.ts) and shares only the hex convention.
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
