// After an assertion key rotation: TOTP secrets sealed with the key being rotated out are sealed again
// with the current one when the gateway starts, so that deleting the old key file (the rotation's last
// step) locks nobody out of their second factor.
import type { AccountData } from '../../users/account-data.js';
import type { FlowCrypto } from './flow-crypto.js';

export interface ResealResult {
  /** Secrets (enabled or pending) now sealed with the current key. */
  readonly resealed: number;
  /** Secrets no key opens any more: their users need a recovery code. */
  readonly unreadable: number;
}

export async function resealTotpSecrets(data: AccountData, crypto: FlowCrypto): Promise<ResealResult> {
  let resealed = 0;
  let unreadable = 0;
  for (const row of await data.sealedTotp()) {
    for (const column of ['totp_secret', 'totp_pending'] as const) {
      const sealed = row[column];
      if (sealed === null) continue;
      const again = crypto.reseal(sealed, row.user_id);
      // Compare-and-set: another replica starting at the same time, or an enroll meanwhile, wins.
      if (again !== null) {
        if (await data.replaceSealedTotp(row.user_id, column, sealed, again)) resealed++;
      } else if (crypto.open(sealed, row.user_id) === null) {
        unreadable++;
      }
    }
  }
  return { resealed, unreadable };
}
