#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * Prints the coordinator's HSM identity public key as JSON ({"identityKey": hex}), opening (and on
 * first use creating keys in) the token named by DIR/hsm.json. Run in its own process by
 * `custos init`, because SoftHSM reads its configuration once per process.
 *   usage: coordinator-identity-main.ts DIR
 */
import { checkNodeVersion } from '../common/runtime.ts';
checkNodeVersion();

const { toHex } = await import('../common/bytes.ts');
const { loadCoordinatorHsm } = await import('../coordinator/main.ts');
const { openConfiguredKeystore } = await import('../hsm/configured-keystore.ts');
const dir = process.argv[2];
const hsm = dir ? loadCoordinatorHsm(dir) : undefined;
if (!hsm) {
  process.stderr.write('custos: usage: coordinator-identity-main.ts DIR (with DIR/hsm.json)\n');
  process.exit(2);
}
const ks = openConfiguredKeystore(hsm);
try {
  process.stdout.write(JSON.stringify({ identityKey: toHex(ks.identityPublicKey()) }) + '\n');
} finally {
  ks.close();
}
