import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { generateOpenApiDocument } from '../openapi.js';

/** Writes openapi.json (the committed copy consumers generate clients from) from the code. */
const document = await generateOpenApiDocument();
writeFileSync('openapi.json', `${JSON.stringify(document, null, 2)}\n`);
process.stdout.write('Wrote openapi.json\n');
