import { runCli } from '../cli';
import { main } from './main';

/** `npm run replay -- …` (see ./args.ts for the options). */
runCli('replay', main);
