export {
  type DataKey,
  type PersonalDataKeys,
  type PersonalDataKeysTable,
  type PersonalDataTables,
  personalDataKeys,
} from './keys.ts';
export { openOrigins, type RequestOrigin, type StoredOrigin, sealedOriginOf } from './origin.ts';
export { openRowOrigins, type SealedRowOrigin, sealRowOrigin } from './row-origin.ts';
export { isSealed, type SealedValue } from './sealed.ts';
export { personalDataStore } from './store.ts';
export { keyedUserIdsFrom } from './user-ids.ts';
