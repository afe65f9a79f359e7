// Every console view module, registered in this order (api/console/index.ts).
import type { ConsoleRoutes } from '../types.js';

export const VIEWS: readonly ConsoleRoutes[] = [];
