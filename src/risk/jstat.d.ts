// jStat ships no type declarations; src/risk/distributions.ts types the part it uses.
declare module 'jstat';
