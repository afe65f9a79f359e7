// Every console view module, registered in this order (api/console/index.ts).
import type { ConsoleRoutes } from '../types.js';
import { actionRoutes } from './actions.js';
import { auditRoutes } from './audit.js';
import { calendarRoutes } from './calendar.js';
import { homeRoutes } from './home.js';
import { pipelineRoutes } from './pipelines.js';
import { releaseRoutes } from './release.js';

export const VIEWS: readonly ConsoleRoutes[] = [homeRoutes, releaseRoutes, actionRoutes, pipelineRoutes, calendarRoutes, auditRoutes];
