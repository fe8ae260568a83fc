import { asCustosError, type CustosError } from './errors.ts';

/**
 * RFC 9457 problem details: the one shape every custos HTTP error takes, on the coordinator's
 * public API and on the nodes' internal one. `code` is stable; `culprit` names the party to blame.
 */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  culprit?: string;
  [extra: string]: unknown;
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemOf(e: unknown): Problem {
  const err: CustosError = asCustosError(e);
  const p: Problem = {
    type: `urn:custos:error:${err.code}`,
    title: err.code,
    status: err.status,
    detail: err.message,
    code: err.code,
  };
  if (err.culprit !== undefined) p.culprit = err.culprit;
  if (err.detail !== undefined) p.context = err.detail;
  return p;
}
