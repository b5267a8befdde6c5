#!/usr/bin/env node
'use strict';
const { main } = require('../dist/cli.js');
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`sft-studio: internal error: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 2; },
);
