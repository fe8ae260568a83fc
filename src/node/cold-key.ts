import { AuthenticationError } from '../common/errors.ts';
import type { KeyFacts } from '../policy/authorize.ts';

/**
 * Refuses a quorum that leaves out a party the key requires in every quorum (a cold key's offline
 * node). The flag is in this node's own key record (keyFacts), set at key creation and attested
 * by every party, so a coordinator that clears it in its own database gets this refusal.
 */
export function requireColdParties(key: Pick<KeyFacts, 'id' | 'required'>, quorum: readonly string[]): void {
  const missing = (key.required ?? []).filter((p) => !quorum.includes(p));
  if (missing.length) throw new AuthenticationError('quorum.cold_key', `key ${key.id} is cold: every quorum must include ${missing.join(', ')} (set at key creation and attested by every party), and ${quorum.join(',')} does not`, 'coordinator', { key: key.id, missing });
}
