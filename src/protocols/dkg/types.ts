import type { Scheme } from '../../common/schemes.ts';

/** Parameters every party of one DKG run agrees on (the coordinator proposes, each node checks
 * them against its genesis before starting). `parties` is ordered: party i has FROST identifier i+1. */
export type DkgParams = {
  sessionId: string;
  scheme: Scheme;
  threshold: number;
  parties: string[];
  self: string;
  /** Encryption public keys (P-256 compressed, hex) of every party, from the genesis. */
  encryptionKeys: Record<string, string>;
};

/** What a finished DKG yields to one party. Everything but `secretShare` is public. */
export type DkgResult = {
  version: 1;
  scheme: Scheme;
  sessionId: string;
  threshold: number;
  parties: string[];
  self: string;
  /** 1-based index of `self` in `parties`, the FROST identifier. */
  index: number;
  /** Sum of all parties' Feldman commitments, hex points; [0] is the group public key (untweaked). */
  groupCommitments: string[];
  /** Verifying share (public key of each party's signing share), hex points, by party id. */
  verifyingShares: Record<string, string>;
  /** Hash over every broadcast of the run; what attestations sign. */
  transcriptHash: string;
  /** This party's signing share (32-byte scalar). SECRET: seal before storing, wipe after use. */
  secretShare: Uint8Array;
};
