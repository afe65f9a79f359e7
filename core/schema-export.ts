// Prints the JSON Schema of gantry.yaml (npm run schema > gantry.schema.json). Uses no I/O but stdout.
import { configJsonSchema } from './config.js';

console.log(JSON.stringify({ $id: 'https://gantry.dev/schema/gantry.json', title: 'gantry.yaml', ...configJsonSchema() }, null, 2));
