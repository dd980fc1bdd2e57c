/** The port the identity context hashes passwords through; `src/identity/passwords.ts` is the argon2id adapter. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password and for a hash it cannot read; never throws on either. */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the hash was made with other parameters (or another algorithm): rehash on next login. */
  needsRehash(hash: string): boolean;
}

/**
 * A message to a person, with the one link it is about. What the identity context sends through the
 * notifier port: reset links (and, later, verification links). Adapters live in `src/identity/notifier/`
 * (SMTP through nodemailer; a log-only one for development).
 */
export interface Notification {
  kind: 'password_reset' | 'email_verification';
  to: string;
  subject: string;
  text: string;
  /** The link the text names (it carries a secret: adapters never log it except the dev adapter's one line). */
  link: string;
}

/** Delivers notifications; a failed delivery rejects (the caller logs it without the link). */
export interface Notifier {
  send(notification: Notification): Promise<void>;
}

const dummies = new WeakMap<PasswordHasher, Promise<string>>();

/**
 * Verifies a password against the user's hash, or — when there is no user — against a dummy hash
 * made once with the same hasher, so an unknown email costs the same work as a wrong password
 * and the answer's timing does not tell which emails exist.
 */
export async function verifyOrDummy(
  hasher: PasswordHasher,
  hashed: string | undefined,
  password: string,
): Promise<boolean> {
  if (hashed !== undefined) return hasher.verify(hashed, password);
  let dummy = dummies.get(hasher);
  if (!dummy) {
    dummy = hasher.hash(crypto.randomUUID());
    dummies.set(hasher, dummy);
  }
  await hasher.verify(await dummy, password);
  return false;
}
