export { dnsOwnershipResolver } from './dns.ts';
