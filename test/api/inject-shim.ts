// fastify's inject() lazily require()s light-my-request, which require()s the ESM-only `cookie`
// package. Node 20.19+ supports require(esm), but jest's CommonJS registry does not (before Node
// 24.9), so inside jest that require throws. Loading `cookie` through jest's ESM loader and handing
// it to the CommonJS registry as a mock makes inject() work unchanged.
import { jest } from '@jest/globals';

const cookie = await import('cookie');
jest.mock('cookie', () => cookie);
