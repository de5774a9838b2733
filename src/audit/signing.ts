import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** First 16 hex digits of SHA-256 over the public key (SPKI DER): names a key in checkpoints. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Public keys a verifier trusts, by key id. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

export function trustedKeys(...keys: KeyObject[]): TrustedKeys {
  return new Map(keys.map((k) => [keyIdOf(k), k]));
}

export function publicKeyFromPem(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 public key, got ${String(key.asymmetricKeyType)}`);
  return key;
}

/**
 * The Ed25519 key that signs audit checkpoints and deletion certificates. The private key stays
 * in this object; only its public half and id are exposed.
 */
export class AuditSigner {
  readonly #privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;

  private constructor(privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new Error(`the audit signing key must be Ed25519, got ${String(privateKey.asymmetricKeyType)}`);
    }
    this.#privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
    this.keyId = keyIdOf(this.publicKey);
  }

  /** A fresh key in memory (tests, benchmarks). */
  static generate(): AuditSigner {
    return new AuditSigner(generateKeyPairSync('ed25519').privateKey);
  }

  /**
   * Reads the PKCS#8 PEM key at `path`, or, when `create` is set and the file does not exist,
   * generates one there (mode 0600) — the dev keys "generated at first start into the data folder".
   */
  static async fromFile(path: string, options: { create: boolean }): Promise<{ signer: AuditSigner; created: boolean }> {
    try {
      return { signer: new AuditSigner(createPrivateKey(await readFile(path, 'utf8'))), created: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !options.create) throw error;
    }
    const { privateKey } = generateKeyPairSync('ed25519');
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    return { signer: new AuditSigner(privateKey), created: true };
  }

  sign(message: string): Buffer {
    return sign(null, Buffer.from(message, 'utf8'), this.#privateKey);
  }

  publicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }
}

export function verifySignature(publicKey: KeyObject, message: string, signature: Uint8Array): boolean {
  return verify(null, Buffer.from(message, 'utf8'), publicKey, signature);
}

/** What a checkpoint signature covers. Times as epoch milliseconds, never as text. */
export function checkpointMessage(c: { workspaceId: string; seq: bigint; hash: Uint8Array; signedAt: Date }): string {
  return ['palisade-audit-checkpoint:v1', c.workspaceId, c.seq.toString(), Buffer.from(c.hash).toString('hex'), String(c.signedAt.getTime())].join('|');
}

/** What a deletion certificate's signature covers. */
export function certificateMessage(c: {
  workspaceId: string;
  fromSeq: bigint;
  throughSeq: bigint;
  eventCount: bigint;
  boundaryHash: Uint8Array;
  cutoff: Date;
  purgedAt: Date;
}): string {
  return [
    'palisade-audit-deletion:v1',
    c.workspaceId,
    c.fromSeq.toString(),
    c.throughSeq.toString(),
    c.eventCount.toString(),
    Buffer.from(c.boundaryHash).toString('hex'),
    String(c.cutoff.getTime()),
    String(c.purgedAt.getTime()),
  ].join('|');
}
