// Every console view module, registered in this order (api/console/index.ts).
import type { ConsoleRoutes } from '../types.js';
import { actionRoutes } from './actions.js';
import { homeRoutes } from './home.js';
import { releaseRoutes } from './release.js';

export const VIEWS: readonly ConsoleRoutes[] = [homeRoutes, releaseRoutes, actionRoutes];
