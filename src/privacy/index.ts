export {
  type DataKey,
  type PersonalDataKeys,
  type PersonalDataKeysTable,
  type PersonalDataTables,
  personalDataKeys,
} from './keys.ts';
export { isSealed, personalDataStore, type SealedValue } from './store.ts';
export { keyedUserIdsFrom } from './user-ids.ts';
