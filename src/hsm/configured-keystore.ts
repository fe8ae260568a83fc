import { resolvePin } from './pin.ts';
import { openPkcs11Keystore } from './pkcs11-keystore.ts';
import { useSoftHsmConf } from './softhsm.ts';
import type { Keystore } from './keystore.ts';

/** The PKCS#11 section of a node's or the coordinator's configuration. The PIN is never in it. */
export type Pkcs11Config = { module?: string; tokenLabel: string; pinEnv?: string; pinFile?: string; softhsmConf?: string };

/** Opens a party's own HSM token. SoftHSM reads its config once per process, at C_Initialize. */
export function openConfiguredKeystore(c: Pkcs11Config): Keystore {
  if (c.softhsmConf) useSoftHsmConf(c.softhsmConf);
  const pin = resolvePin({ pinEnv: c.pinEnv, pinFile: c.pinFile });
  return openPkcs11Keystore({ modulePath: c.module, tokenLabel: c.tokenLabel, pin });
}
