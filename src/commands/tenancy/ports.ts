/**
 * The port custom-domain verification reads DNS through: the TXT records of one name, each record as
 * the strings it is made of (as `node:dns` answers). A name with no TXT records answers `[]`; a lookup
 * that could not be made (timeout, server failure) throws. `src/tenancy/dns.ts` is the DNS adapter;
 * tests pass a resolver they control.
 */
export interface DomainOwnershipResolver {
  resolveTxt(name: string): Promise<string[][]>;
}
