import type { Scheme } from '../../common/schemes.ts';
import type { PairMaterial, SetupRound1, SetupRound2, SetupSecret } from '../dkls23/setup.ts';

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
  /** ecdsa-secp256k1 only: the jointly generated BIP32 chain code (public, attested). */
  chainCode?: string;
  /** ecdsa-secp256k1 only: the DKLs23 pairwise setup with every other party. SECRET: seal it. */
  pairs?: Record<string, PairMaterial>;
};

/**
 * Round 1 broadcast of one dealer (party j), signed by j as its `dkg/1` message to "*". Shares go
 * inside the broadcast (each encrypted to its receiver) so that every party holds the dealer-signed
 * ciphertext a complaint refers to. All bytes are lowercase hex.
 */
export type Round1Payload = {
  /** Feldman commitments C_0..C_{t-1} = a_k·G of j's polynomial: `threshold` points. */
  commitments: string[];
  /** Schnorr proof of knowledge of a_0 (R || z), bound to (sessionId, j, scheme). */
  proofOfKnowledge: string;
  /** For every other party p: ECIES(P-256 key of p, f_j(index of p)), context (session, scheme, j, p). */
  shares: Record<string, string>;
  /** For every other party p: proof of knowledge of the ephemeral secret of shares[p] (P-256 R || z),
   * bound to (session, j, p). Without it a complaint's revealed S could open someone else's ciphertext. */
  shareProofs: Record<string, string>;
  /** ecdsa-secp256k1 only: DKLs23 pairwise setup and chain-code commitment (dkls23/setup.ts). */
  ecdsa?: SetupRound1;
};

/** What a party echoes of sender j's round-1 broadcast: its digest (payloadDigest) and j's signature on it. */
export type Echo = { digest: string; signature: string };

/**
 * A complaint against dealer `accused` whose share did not open or failed the Feldman check: the
 * complainer reveals the ECDH point S of that one ciphertext with a DLEQ proof (P-256) that it is
 * sk·E for its own encryption key, so everyone can open the ciphertext and judge.
 */
export type Complaint = {
  accused: string;
  /** S = sk·E, 33-byte compressed P-256 point. */
  shared: string;
  /** Chaum–Pedersen proof c || z, 64 bytes. */
  proof: string;
};

/** Round 2 broadcast (`dkg/2` to "*"): the echo that closes round 1, and complaints. */
export type Round2Payload = {
  /** For every other party j: the round-1 broadcast of j as this party received it. */
  echoes: Record<string, Echo>;
  /** Ordered by the accused party's position in `parties`; at most one per accused. */
  complaints: Complaint[];
  /** ecdsa-secp256k1 only: the opening of the chain-code commitment. */
  ecdsa?: SetupRound2;
};

/**
 * State between round1 and round2. SECRET (holds this party's own share f_self(self)): the
 * caller seals it (the node seals it with its HSM) and never logs it.
 */
export type DkgRound1State = {
  version: 1;
  step: 'round1';
  params: DkgParams;
  /** This party's own round-1 broadcast. */
  round1: Round1Payload;
  /** SECRET: f_self(index of self), scalar hex. */
  ownShare: string;
  /** SECRET, ecdsa-secp256k1 only. */
  ecdsa?: SetupSecret;
};

/** State between round2 and finish. SECRET (holds this party's received shares): seal it. */
export type DkgRound2State = {
  version: 1;
  step: 'round2';
  params: DkgParams;
  round1: Round1Payload;
  /** SECRET: f_self(index of self), scalar hex. */
  ownShare: string;
  /** Every other party's round-1 message as received (payload and sender signature): evidence. */
  received: Record<string, { payload: Round1Payload; signature: string }>;
  /** SECRET: f_j(index of self) for every dealer j whose share opened and verified, scalar hex. */
  shares: Record<string, string>;
  /** Σ_j C_j over every dealer's round-1 commitments as this party received them, hex points (public). */
  groupCommitments: string[];
  /** This party's own round-2 broadcast. */
  round2: Round2Payload;
  /** SECRET, ecdsa-secp256k1 only: the finished pairwise setup. */
  ecdsa?: { pairs: Record<string, PairMaterial> };
};

export type DkgState = DkgRound1State | DkgRound2State;
