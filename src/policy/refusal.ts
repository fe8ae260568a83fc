import { CustosError, type ErrorDetail } from '../common/errors.ts';

/**
 * A node (or the coordinator's front door) refused a request on policy or authorization grounds:
 * a missing or forged signature, a denied rule, missing approvals, a rolled-back policy. 403,
 * with a stable code and the reasons; `culprit` says who sent what was refused.
 */
export class PolicyRefusal extends CustosError {
  constructor(code: string, message: string, opts: { culprit?: string; reasons?: string[]; detail?: ErrorDetail } = {}) {
    super(code, message, { status: 403, culprit: opts.culprit ?? 'client', detail: { ...(opts.detail ?? {}), ...(opts.reasons ? { reasons: opts.reasons } : {}) } });
  }
}
