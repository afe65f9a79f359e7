// What a push does (the `triggers` of gantry.yaml): the branch and tag rules, decided here, pure, for
// every intake (GitHub webhooks and the plain git server's post-receive hook, api/webhooks.ts).
// Patterns are globs over the branch or tag name: `*` within one path segment, `**` across segments,
// `?` one character, everything else literally (no classes, braces or negation).
import { defaultBranchRules, type BranchAction, type GantryConfig } from './config.js';
import { cap, displayLine } from './text.js';

/** A ref, branch, tag or pattern from a push, as shown in an answer: escaped, one line, capped. */
const shown = (v: string) => cap(displayLine(v), 200);

/** `*` matches within one path segment, `**` across segments, `?` one character; the rest literally. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') { re += '.*'; i++; } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export type PushDecision =
  | { action: 'pipeline'; branch: string }
  | { action: 'release'; tag: string; environment: string }
  | { action: 'gates' | 'none' | 'ignored'; reason: string };

/** What a push of `ref` does under the config's trigger rules (the first matching rule wins). */
export function decidePush(config: GantryConfig, ref: string, deleted = false): PushDecision {
  if (deleted) return { action: 'ignored', reason: `${shown(ref)} was deleted: nothing to build` };
  const branch = /^refs\/heads\/(.+)$/.exec(ref)?.[1];
  const tag = /^refs\/tags\/(.+)$/.exec(ref)?.[1];
  if (branch !== undefined) {
    const rules = config.triggers?.branches ?? defaultBranchRules;
    const rule = rules.find((r) => globToRegExp(r.pattern).test(branch));
    const action: BranchAction = rule?.action ?? 'none';
    if (action === 'pipeline') return { action: 'pipeline', branch };
    if (action === 'gates') {
      return { action: 'gates', reason: `branch ${shown(branch)} runs the quality gates only (rule '${shown(rule!.pattern)}')` };
    }
    return { action: 'none', reason: rule ? `branch ${shown(branch)} is set to start nothing (rule '${shown(rule.pattern)}')` : `no branch rule matches ${shown(branch)}: nothing to do` };
  }
  if (tag !== undefined) {
    const rule = (config.triggers?.tags ?? []).find((r) => globToRegExp(r.pattern).test(tag));
    if (rule) return { action: 'release', tag, environment: rule.environment };
    return { action: 'none', reason: `no tag rule matches ${shown(tag)}: nothing to release` };
  }
  return { action: 'ignored', reason: `${shown(ref)} is neither a branch nor a tag` };
}

