import { randomBytes as nodeRandomBytes } from 'node:crypto';

/** Source of randomness. Injectable everywhere so protocol tests can replay official vectors. */
export type Rng = (n: number) => Uint8Array;

export const secureRng: Rng = (n) => new Uint8Array(nodeRandomBytes(n));
