import { main } from './main';

/** `npm run replay -- …` (see ./args.ts for the options). */
main(process.argv.slice(2), { out: (text) => console.log(text), err: (text) => console.error(text) }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('error: replay stopped:', error);
    process.exitCode = 1;
  },
);
