/** All t-member subsets of `parties`, in party order (a quorum's canonical form). */
export function quorumsOf(parties: string[], t: number): string[][] {
  const out: string[][] = [];
  const pick = (start: number, acc: string[]) => {
    if (acc.length === t) { out.push([...acc]); return; }
    for (let i = start; i <= parties.length - (t - acc.length); i++) pick(i + 1, [...acc, parties[i]]);
  };
  pick(0, []);
  return out;
}

/** Pool quorums kept warm by default: every t-subset while that stays small, else none (on demand). */
export const MAX_POOLED_QUORUMS = 20;
