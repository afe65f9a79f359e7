// The release's custom search attributes as typed SDK keys (names and types: core/search-attributes.ts),
// shared by the release workflow (upserts), the API (start, list) and the worker.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair, type SearchAttributeUpdatePair } from '@temporalio/common';
import { SearchAttribute, type ReleaseAttributes } from '../core/search-attributes.js';

export const GantryApp = defineSearchAttributeKey(SearchAttribute.App, SearchAttributeType.KEYWORD);
export const GantryEnvironment = defineSearchAttributeKey(SearchAttribute.Environment, SearchAttributeType.KEYWORD);
export const GantryKind = defineSearchAttributeKey(SearchAttribute.Kind, SearchAttributeType.KEYWORD);
export const GantryPhase = defineSearchAttributeKey(SearchAttribute.Phase, SearchAttributeType.KEYWORD);
export const GantryWaitingOn = defineSearchAttributeKey(SearchAttribute.WaitingOn, SearchAttributeType.KEYWORD);
export const GantryApprovers = defineSearchAttributeKey(SearchAttribute.Approvers, SearchAttributeType.KEYWORD_LIST);
export const GantryExcluded = defineSearchAttributeKey(SearchAttribute.Excluded, SearchAttributeType.KEYWORD_LIST);
export const GantryWeight = defineSearchAttributeKey(SearchAttribute.Weight, SearchAttributeType.INT);
export const GantryWaitingSince = defineSearchAttributeKey(SearchAttribute.WaitingSince, SearchAttributeType.DATETIME);
export const GantryGroup = defineSearchAttributeKey(SearchAttribute.Group, SearchAttributeType.INT);
export const GantryCells = defineSearchAttributeKey(SearchAttribute.Cells, SearchAttributeType.KEYWORD_LIST);

/** The attributes a release starts with (set by whoever starts it, once it knows they are registered). */
export function startAttributes(app: string, environment: string, kind: 'release' | 'rollback'): SearchAttributePair[] {
  return [
    { key: GantryApp, value: app }, { key: GantryEnvironment, value: environment }, { key: GantryKind, value: kind },
    { key: GantryPhase, value: 'starting' }, { key: GantryWaitingOn, value: 'none' },
    // Also tells the release that the namespace has GantryWeight and GantryWaitingSince (added later),
    // and GantryGroup and GantryCells (later still).
    { key: GantryWeight, value: 0 }, { key: GantryGroup, value: 0 },
  ];
}

/** The upsert for the changed keys of `next` (an empty list is removed: KeywordList attributes hold no empty lists). */
export function attributeUpdates(next: ReleaseAttributes, keys: readonly (keyof ReleaseAttributes)[]): SearchAttributeUpdatePair[] {
  return keys.map((k): SearchAttributeUpdatePair => {
    switch (k) {
      case 'phase': return { key: GantryPhase, value: next.phase };
      case 'waitingOn': return { key: GantryWaitingOn, value: next.waitingOn };
      case 'approvers': return { key: GantryApprovers, value: next.approvers.length ? next.approvers : null };
      case 'excluded': return { key: GantryExcluded, value: next.excluded.length ? next.excluded : null };
      case 'weight': return { key: GantryWeight, value: next.weight };
      case 'waitingSince': return { key: GantryWaitingSince, value: next.waitingSince !== undefined ? new Date(next.waitingSince) : null };
      case 'group': return { key: GantryGroup, value: next.group };
      case 'cells': return { key: GantryCells, value: next.cells.length ? next.cells : null };
      default: {
        const never: never = k;
        throw new Error(`unknown attribute ${String(never)}`);
      }
    }
  });
}
