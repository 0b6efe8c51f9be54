// Loaded with `node --import` into a benchmarked process: reports its peak resident
// set size (KiB, getrusage ru_maxrss) on stderr when it exits.
import fs from 'node:fs';

process.on('exit', () => {
  fs.writeSync(2, `\nBENCH_MAXRSS_KB ${process.resourceUsage().maxRSS}\n`);
});
