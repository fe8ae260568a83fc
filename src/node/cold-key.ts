import { AuthenticationError } from '../common/errors.ts';

/**
 * Refuses a quorum that leaves out a party the key requires in every quorum (a cold key's offline
 * node). The flag is in this node's own key record, set at key creation and attested by every
 * party, so a coordinator that clears it in its own database gets this refusal.
 */
export function requireColdParties(keyId: string, publicJson: string, quorum: readonly string[]): void {
  const required = (JSON.parse(publicJson) as { requiredParties?: string[] }).requiredParties ?? [];
  const missing = required.filter((p) => !quorum.includes(p));
  if (missing.length) throw new AuthenticationError('quorum.cold_key', `key ${keyId} is cold: every quorum must include ${missing.join(', ')} (set at key creation and attested by every party), and ${quorum.join(',')} does not`, 'coordinator', { key: keyId, missing });
}
