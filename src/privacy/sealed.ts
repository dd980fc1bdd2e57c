/**
 * A personal field as stored: the id of the data key and the AES-256-GCM ciphertext. An object, so
 * no string a user types (every personal field is a string in its contract) can pass for one.
 */
export interface SealedValue {
  $personal: { key: string; sealed: string };
}

export function isSealed(value: unknown): value is SealedValue {
  if (typeof value !== 'object' || value === null) return false;
  const inner = (value as { $personal?: unknown }).$personal;
  return (
    typeof inner === 'object' &&
    inner !== null &&
    typeof (inner as { key?: unknown }).key === 'string' &&
    typeof (inner as { sealed?: unknown }).sealed === 'string'
  );
}
