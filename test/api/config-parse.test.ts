// The config parser pool (api/config-parse.ts): gantry.yaml parsed in worker threads with every bound
// answered clearly — 413 too large (before parsing), too slow or too big in memory (the thread is
// replaced), 503 when too many wait or wait too long, 400 listing the problems — and the same
// results as parsing in place.
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseConfigText } from '../../core/config.js';
import { CONFIG_TEXT_LIMIT, checkConfigSize, configParser, ConfigParserPool, loadConfigOffThread } from '../../api/config-parse.js';
import { GantryError } from '../../api/errors.js';
import { configYaml } from './helpers.js';
import { listTwice, validConfigOfSize } from './hostile-inputs.js';

const pools: ConfigParserPool[] = [];
const pool = (o: ConstructorParameters<typeof ConfigParserPool>[0]) => { const p = new ConfigParserPool(o); pools.push(p); return p; };
afterAll(async () => { await Promise.all([...pools, configParser()].map((p) => p.close())); });

async function rejection(p: Promise<unknown>): Promise<GantryError> {
  try { await p; } catch (err) { expect(err).toBeInstanceOf(GantryError); return err as GantryError; }
  throw new Error('did not reject');
}

describe('api/config-parse', () => {
  it('gives the results parseConfigText gives, for text and for the document as an object', async () => {
    const text = configYaml('cfgpool');
    expect(await configParser().parse(text)).toEqual(parseConfigText(text));
    const broken = 'app: { name: Shop }\nenvironments: []\n';
    expect(await configParser().parse(broken)).toEqual(parseConfigText(broken));
    const config = await loadConfigOffThread(text);
    expect(config.app.name).toBe('cfgpool');
    // The resolved config, sent as an object, resolves to itself.
    expect(await loadConfigOffThread(JSON.parse(JSON.stringify(config)))).toEqual(config);
    const err = await rejection(loadConfigOffThread(broken));
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(/^invalid gantry\.yaml \(\d+ problems?\)$/);
    expect(err.details.every((d) => d.path.startsWith('config.') && d.hint.length > 5)).toBe(true);
  });

  it('413 for text over the limit, before any thread sees it', async () => {
    expect(() => checkConfigSize('x'.repeat(CONFIG_TEXT_LIMIT))).not.toThrow();
    const p = pool({ threads: 1 });
    const err = await rejection(p.parse('x'.repeat(CONFIG_TEXT_LIMIT + 1)));
    expect(err.toJSON()).toEqual({ error: 'too_large', message: `gantry.yaml is ${CONFIG_TEXT_LIMIT + 1} characters; the API parses at most ${CONFIG_TEXT_LIMIT} (256 KiB)`, hint: 'send a gantry.yaml of at most 256 KiB', details: [expect.objectContaining({ path: 'config' })] });
    expect(err.httpStatus).toBe(413);
    expect(p.stats.threads).toBe(0);
  });

  it('a parse that runs too long ends its thread (413); the next parse gets a new thread', async () => {
    // A valid config near the size limit takes over a second to parse here; a small one a few milliseconds.
    const p = pool({ threads: 1, parseTimeoutMs: 150 });
    await p.ready();
    expect(p.stats.threads).toBe(1);
    const err = await rejection(p.parse(validConfigOfSize('slow', 250 * 1024)));
    expect(err.httpStatus).toBe(413);
    expect(err.message).toBe('gantry.yaml took longer than 150 ms to parse: it is too large or too complex');
    expect(p.stats.threads).toBe(0);
    await p.ready();
    expect((await p.parse(configYaml('after'))).ok).toBe(true);
  });

  it('a parse that needs more memory than a thread has ends the thread (413); the pool goes on', async () => {
    const p = pool({ threads: 1, maxMemoryMb: 16 });
    await p.ready();
    expect((await p.parse(configYaml('small'))).ok).toBe(true);
    const err = await rejection(p.parse(validConfigOfSize('big', 250 * 1024)));
    expect(err.httpStatus).toBe(413);
    expect(err.message).toBe('parsing gantry.yaml needed more than 16 MB of memory');
    expect((await p.parse(configYaml('small'))).ok).toBe(true);
  });

  it('503 with Retry-After when too many parses wait, or one waits too long; close answers what waits', async () => {
    // The list written twice keeps the one thread busy for far longer than a 50 ms queue wait.
    const p = pool({ threads: 1, maxQueue: 1, queueTimeoutMs: 50 });
    await p.ready();
    const slow = listTwice(200 * 1024);
    const running = p.parse(slow);
    running.catch(() => {}); // awaited below; never left unhandled if an expectation fails first
    const waiting = rejection(p.parse(slow));
    const full = await rejection(p.parse(slow));
    expect(full.toJSON()).toMatchObject({ error: 'unavailable', message: 'too many configs are being parsed (1 waiting)', hint: 'retry in a few seconds' });
    expect(full.retryAfterSeconds).toBe(5);
    const late = await waiting;
    expect(late.httpStatus).toBe(503);
    expect(late.message).toBe('the config waited more than 50 ms for a parser');
    expect((await running).ok).toBe(false);

    const outcomes = [p.parse(slow), p.parse(slow)].map(rejection);
    await p.close();
    for (const r of outcomes) expect((await r).message).toBe('the config parser is shut down');
    expect(p.stats).toEqual({ threads: 0, busy: 0, queued: 0 });
  });
});
