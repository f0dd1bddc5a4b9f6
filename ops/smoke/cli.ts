import { runCli } from '../cli';
import { main } from './main';

/** `npm run smoke -- …` (see ./args.ts for the options). */
runCli('smoke', main);
